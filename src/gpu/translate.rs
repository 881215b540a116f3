//! The kernels as wgpu's backends receive them, checked without a GPU: every variant the plan
//! can pick, with its pipeline-overridable constants applied, validates with naga and
//! translates to SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL), as wgpu would
//! translate it on each of those devices.

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
use naga::ShaderStage;

use super::kernels::{DotLoop, Kernel, ShaderFile, Variant};
use super::plan::{DeviceProfile, StepShape};
use super::shader_tests::WEIGHT_FORMS;
use crate::config::{Kind, RnnConfig};

/// `source` with `constants` applied, translated for entry point `entry` by every backend.
fn translate(source: &str, dot: DotLoop, constants: &[(&str, f64)], entry: &str) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    let capabilities = match dot {
        DotLoop::Plain => Capabilities::default(),
        DotLoop::Subgroup => Capabilities::default() | Capabilities::SUBGROUP,
    } | Capabilities::SHADER_FLOAT16_IN_FLOAT32; // f16 weights widened by unpack2x16float
    let info = Validator::new(ValidationFlags::all(), capabilities)
        .subgroup_stages(ShaderStages::COMPUTE)
        .subgroup_operations(SubgroupOperationSet::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)));
    // Every constant the host sets names an override of the module.
    for (name, _) in constants {
        assert!(
            module
                .overrides
                .iter()
                .any(|(_, o)| o.name.as_deref() == Some(name)),
            "{entry}: no override {name}"
        );
    }
    let constants: naga::back::PipelineConstants =
        constants.iter().map(|&(k, v)| (k.to_string(), v)).collect();
    let stage = (ShaderStage::Compute, entry.to_string());
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((ShaderStage::Compute, entry)),
        &constants,
    )
    .unwrap_or_else(|e| panic!("{entry} {constants:?}: {e}"));
    let what = format!("{entry} with {dot:?} and {constants:?}");

    let spv_options = spv::PipelineOptions {
        shader_stage: ShaderStage::Compute,
        entry_point: entry.into(),
    };
    spv::write_vec(&module, &info, &spv::Options::default(), Some(&spv_options))
        .unwrap_or_else(|e| panic!("SPIR-V, {what}: {e}"));

    let msl_options = msl::Options {
        lang_version: (2, 4),
        ..Default::default()
    };
    let msl_pipeline = msl::PipelineOptions {
        entry_point: Some(stage.clone()),
        ..Default::default()
    };
    msl::write_string(&module, &info, &msl_options, &msl_pipeline)
        .unwrap_or_else(|e| panic!("MSL, {what}: {e}"));

    let hlsl_options = hlsl::Options {
        shader_model: hlsl::ShaderModel::V6_0,
        ..Default::default()
    };
    let hlsl_pipeline = hlsl::PipelineOptions {
        entry_point: Some(stage),
    };
    let mut out = String::new();
    hlsl::Writer::new(&mut out, &hlsl_options, &hlsl_pipeline)
        .write(&module, &info, None)
        .unwrap_or_else(|e| panic!("HLSL, {what}: {e}"));

    let glsl_options = glsl::Options {
        version: glsl::Version::new_gles(310),
        ..Default::default()
    };
    let glsl_pipeline = glsl::PipelineOptions {
        shader_stage: ShaderStage::Compute,
        entry_point: entry.into(),
        multiview: None,
    };
    let mut out = String::new();
    glsl::Writer::new(
        &mut out,
        &module,
        &info,
        &glsl_options,
        &glsl_pipeline,
        Default::default(),
    )
    .and_then(|mut w| w.write())
    .unwrap_or_else(|e| panic!("GLSL, {what}: {e}"));
}

#[test]
fn every_step_variant_translates_to_every_backend() {
    let mut shapes = Vec::new();
    for hidden in [1, 20, 128, 1024] {
        for batch in [1, 3, 64] {
            for profile in [DeviceProfile::GENERIC_GPU, DeviceProfile::SOFTWARE] {
                shapes.push(StepShape::new(
                    &RnnConfig::new(Kind::Gru, 4, hidden),
                    batch,
                    profile,
                ));
            }
        }
    }
    shapes.sort_by_key(|s| (s.units, s.rows, s.workgroup));
    shapes.dedup();
    for (dot, (_, weights, half_builtin)) in DotLoop::ALL
        .into_iter()
        .flat_map(|dot| WEIGHT_FORMS.map(|form| (dot, form)))
        .filter(|(_, (uniform, _, _))| !uniform)
    {
        let source = ShaderFile::Recurrent.source(dot, false, weights, half_builtin);
        for shape in &shapes {
            for gates in [1.0, 3.0, 4.0] {
                let constants = [
                    ("UNITS", f64::from(shape.units)),
                    ("ROWS", f64::from(shape.rows)),
                    ("WORKGROUP", f64::from(shape.workgroup)),
                    ("GATES", gates),
                ];
                translate(source, dot, &constants, "recurrent_step");
            }
            // A GRU whose reset gate comes first: the step reads the reset gates, which
            // gru_reset computes before it.
            let constants = [
                ("UNITS", f64::from(shape.units)),
                ("ROWS", f64::from(shape.rows)),
                ("WORKGROUP", f64::from(shape.workgroup)),
                ("GATES", 3.0),
                ("RESET_FIRST", 1.0),
            ];
            translate(source, dot, &constants, "recurrent_step");
            // GLSL's writer needs the GATES the project kernel never reads set too.
            let constants = [("ROWS", f64::from(shape.rows)), ("GATES", 4.0)];
            if dot == DotLoop::Plain {
                translate(source, dot, &constants, "lstm_project");
                let reset = [
                    ("ROWS", f64::from(shape.rows)),
                    ("GATES", 3.0),
                    ("RESET_FIRST", 1.0),
                ];
                translate(source, dot, &reset, "gru_reset");
            }
        }
    }
}

/// Every other entry point, for every block of rows the plan picks and either W_hh layout,
/// with either set of inner loops, at its pipeline's constants.
#[test]
fn every_other_kernel_translates_to_every_backend() {
    let config = RnnConfig::new(Kind::Lstm, 4, 64);
    for kernel in Kernel::ALL {
        if matches!(
            kernel,
            Kernel::Step | Kernel::LstmProject | Kernel::GruReset
        ) {
            continue; // above, for every cut the plan picks
        }
        let file = kernel.file();
        for dot in DotLoop::ALL.into_iter().filter(|&d| file.builds(d)) {
            let blocks: &[u32] = match file {
                ShaderFile::Sequence | ShaderFile::SequenceRegisters | ShaderFile::Wavefront => {
                    &[1, 2, 4, 8]
                }
                _ => &[0],
            };
            for &rows in blocks {
                for (uniform_weights, weights, half_builtin) in WEIGHT_FORMS {
                    if uniform_weights && !file.has_uniform_weights() {
                        continue;
                    }
                    let variant = match kernel {
                        Kernel::InputProjection => Variant::input_projection(&config, false),
                        Kernel::InputProjectionTiled => Variant::input_projection(&config, true),
                        Kernel::WaveStep => Variant::wave(&config, rows),
                        Kernel::Sequence | Kernel::SequenceRegisters => {
                            let shape = super::plan::SequenceShape {
                                rows,
                                workgroup: 32,
                                registers: kernel == Kernel::SequenceRegisters,
                                uniform_weights,
                            };
                            Variant::sequence(shape, &config)
                        }
                        Kernel::SwapBatchTime => Variant::swap(),
                        Kernel::PackByUnit => Variant::pack(),
                        _ => Variant::dense(kernel),
                    };
                    let source = file.source(dot, uniform_weights, weights, half_builtin);
                    let constants = variant.overrides.map_or_else(Vec::new, |o| o.constants());
                    translate(source, dot, &constants, kernel.entry_point());
                }
            }
        }
    }
}
