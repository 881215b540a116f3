//! The WGSL sources checked without a GPU: every module parses and validates with naga with
//! either set of inner loops, every entry point the crate dispatches exists, and the
//! bindings, sizes and struct layouts agree with the Rust side (`gpu::kernels::bindings`,
//! `gpu::shaders`, `LayerParams`). `gpu::translate` takes the per-step kernel on to every
//! backend.

use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
use naga::{AddressSpace, Module, ShaderStage, StorageAccess};

use super::kernels::*;
use super::plan::{MAX_PAIRS, MAX_ROWS, MAX_STEP_WORKGROUP};
use crate::config::{Kind, RnnConfig};
use crate::Precision;

/// Every way a module reads weight matrices, as `(uniform_weights, weights, half_builtin)`:
/// f32 from storage or (the sequence kernels) uniform buffers, and f16 from storage widened
/// with `unpack2x16float` or with integer operations.
pub(crate) const WEIGHT_FORMS: [(bool, Precision, bool); 4] = [
    (false, Precision::F32, false),
    (true, Precision::F32, false),
    (false, Precision::F16, true),
    (false, Precision::F16, false),
];

/// Whether the type `ty` is an array of u32 or of vectors of u32 (paired halves, half.wesl).
fn element_is_u32(module: &Module, ty: naga::Handle<naga::Type>) -> bool {
    let naga::TypeInner::Array { base, .. } = module.types[ty].inner else {
        return false;
    };
    matches!(
        module.types[base].inner,
        naga::TypeInner::Scalar(naga::Scalar::U32)
            | naga::TypeInner::Vector {
                scalar: naga::Scalar::U32,
                ..
            }
    )
}

/// The module build.rs wrote for a device with or without subgroups, with the sequence
/// kernels' W_hh in uniform buffers where `uniform_weights`, and weight matrices stored as
/// `weights`, validated as such a device would.
fn parse_variant(
    file: ShaderFile,
    dot: DotLoop,
    uniform_weights: bool,
    weights: Precision,
    half_builtin: bool,
) -> Module {
    let source = file.source(dot, uniform_weights, weights, half_builtin);
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{file:?}: {}", e.emit_to_string(source)));
    let mut capabilities = match dot {
        DotLoop::Plain => Capabilities::default(),
        DotLoop::Subgroup => Capabilities::default() | Capabilities::SUBGROUP,
    };
    // Only the modules for devices that convert halves natively may need it.
    if half_builtin {
        capabilities |= Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    }
    Validator::new(ValidationFlags::all(), capabilities)
        .subgroup_stages(ShaderStages::COMPUTE)
        .subgroup_operations(SubgroupOperationSet::all())
        .validate(&module)
        .unwrap_or_else(|e| {
            panic!(
                "{file:?} {dot:?} uniform weights {uniform_weights} {weights:?}: {}",
                e.emit_to_string(source)
            )
        });
    module
}

/// The module as a device compiles it: without subgroups where the family exists so.
fn parse(file: ShaderFile) -> Module {
    let dot = if file.builds(DotLoop::Plain) {
        DotLoop::Plain
    } else {
        DotLoop::Subgroup
    };
    parse_variant(file, dot, false, Precision::F32, false)
}

/// The item of `items` whose name is `name` (`what` for the message).
fn named<'a, T: 'a, H>(
    items: impl IntoIterator<Item = (H, &'a T)>,
    name_of: impl Fn(&T) -> Option<&str>,
    what: &str,
    name: &str,
) -> &'a T {
    items
        .into_iter()
        .map(|(_, item)| item)
        .find(|item| name_of(item) == Some(name))
        .unwrap_or_else(|| panic!("no {what} {name}"))
}

/// Size in bytes of the WGSL struct named `name`.
fn struct_size(module: &Module, name: &str) -> u32 {
    let ty = named(module.types.iter(), |t| t.name.as_deref(), "struct", name);
    ty.inner.size(module.to_ctx())
}

/// The layout entry kind that the global `var` in `module` needs.
fn binding_of(var: &naga::GlobalVariable) -> Option<Binding> {
    match var.space {
        AddressSpace::Uniform => Some(Binding::Uniform),
        AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
            Some(Binding::ReadWrite)
        }
        AddressSpace::Storage { .. } => Some(Binding::ReadOnly),
        _ => None,
    }
}

/// The u32 literal a module-scope expression of `module` is (`name` for the message).
fn literal_u32(module: &Module, init: naga::Handle<naga::Expression>, name: &str) -> u32 {
    match module.global_expressions[init] {
        naga::Expression::Literal(naga::Literal::U32(value)) => value,
        ref e => panic!("{name} is not a u32 literal: {e:?}"),
    }
}

/// The value of the WGSL `const NAME: u32` in `module`, or the default of the
/// pipeline-overridable constant of that name.
fn value_u32(module: &Module, name: &str) -> u32 {
    let constant = module.constants.iter().map(|(_, c)| c);
    match constant
        .into_iter()
        .find(|c| c.name.as_deref() == Some(name))
    {
        Some(c) => literal_u32(module, c.init, name),
        None => {
            let o = named(
                module.overrides.iter(),
                |o| o.name.as_deref(),
                "value",
                name,
            );
            literal_u32(module, o.init.expect("a default"), name)
        }
    }
}

/// Every module build.rs writes: each family with either set of inner loops, the sequence
/// kernels with either W_hh layout, and each with f32 and f16 weight matrices (f16 only
/// from storage).
#[test]
fn every_module_parses_and_validates() {
    for file in ShaderFile::ALL {
        for dot in DotLoop::ALL.into_iter().filter(|&d| file.builds(d)) {
            for (uniform_weights, weights, half_builtin) in WEIGHT_FORMS {
                let module = parse_variant(file, dot, uniform_weights, weights, half_builtin);
                let uniform_parts = module
                    .global_variables
                    .iter()
                    .filter(|(_, v)| v.name.as_deref().is_some_and(|n| n.starts_with("weights")))
                    .filter(|(_, v)| v.space == AddressSpace::Uniform)
                    .count();
                let expected = if uniform_weights && file.has_uniform_weights() {
                    4
                } else {
                    0
                };
                assert_eq!(
                    uniform_parts, expected,
                    "{file:?} {dot:?} {uniform_weights}"
                );
                // With f16 weights every weight matrix is read as words of paired halves.
                let halves = module
                    .global_variables
                    .iter()
                    .filter(|(_, v)| {
                        v.space
                            == (AddressSpace::Storage {
                                access: StorageAccess::LOAD,
                            })
                    })
                    .filter(|(_, v)| {
                        let name = v.name.as_deref().unwrap_or("");
                        ["weights", "w_hh", "w_hr", "arena", "weight"].contains(&name)
                    })
                    .map(|(_, v)| element_is_u32(&module, v.ty))
                    .collect::<Vec<_>>();
                assert!(
                    halves
                        .iter()
                        .all(|&h| h == (weights == Precision::F16 && file.has_f16_weights())),
                    "{file:?} {dot:?} {weights:?}: {halves:?}"
                );
            }
        }
    }
}

/// Every group 0 layout, with the group 1 step uniform, within the buffers per stage that
/// every WebGPU device allows: a context on a device the application created with default
/// limits must still compile every kernel.
#[test]
fn every_layout_fits_the_default_limits() {
    let limits = wgpu::Limits::default();
    for (file, uniform_weights) in ShaderFile::ALL
        .into_iter()
        .flat_map(|f| [(f, false), (f, true)])
    {
        let entries = bindings(file, uniform_weights);
        let storage = entries
            .iter()
            .filter(|(_, b)| *b != Binding::Uniform)
            .count() as u32;
        let uniform = entries.len() as u32 - storage + u32::from(file.indexes_steps());
        assert!(
            storage <= limits.max_storage_buffers_per_shader_stage,
            "{file:?}: {storage} storage buffers"
        );
        assert!(
            uniform <= limits.max_uniform_buffers_per_shader_stage,
            "{file:?}: {uniform} uniform buffers"
        );
    }
}

#[test]
fn every_kernel_entry_point_exists_as_a_compute_shader() {
    for kernel in Kernel::ALL {
        for dot in DotLoop::ALL
            .into_iter()
            .filter(|&d| kernel.file().builds(d))
        {
            let module = parse_variant(kernel.file(), dot, false, Precision::F32, false);
            let entry = module
                .entry_points
                .iter()
                .find(|e| e.name == kernel.entry_point())
                .unwrap_or_else(|| panic!("{kernel:?}: no entry point {}", kernel.entry_point()));
            assert_eq!(entry.stage, ShaderStage::Compute, "{kernel:?}");
            // Every width is a pipeline override in x, 1 in y and z: the plan sets them, and
            // the dispatch arithmetic divides by them (wgsl_constants_match_rust checks the
            // defaults of the fixed ones).
            let sizes = entry.workgroup_size_overrides.expect("an override");
            assert!(
                sizes[0].is_some() && sizes[1].is_none(),
                "{kernel:?}: {sizes:?}"
            );
            assert_eq!(entry.workgroup_size[1..], [1, 1], "{kernel:?}");
        }
    }
}

#[test]
fn bindings_match_the_bind_group_layouts() {
    for (file, (uniform_weights, weights, half_builtin)) in ShaderFile::ALL
        .into_iter()
        .flat_map(|f| WEIGHT_FORMS.map(|form| (f, form)))
    {
        let dot = if file.builds(DotLoop::Plain) {
            DotLoop::Plain
        } else {
            DotLoop::Subgroup
        };
        let module = parse_variant(file, dot, uniform_weights, weights, half_builtin);
        let expected = bindings(file, uniform_weights);
        let mut group0 = 0;
        let mut step_uniform = false;
        for (_, var) in module.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            let name = var.name.as_deref().unwrap_or("?");
            let got = binding_of(var);
            match rb.group {
                0 => {
                    group0 += 1;
                    let want = expected
                        .iter()
                        .find(|(binding, _)| *binding == rb.binding)
                        .unwrap_or_else(|| {
                            panic!("{file:?}: `{name}` at binding {} has no entry", rb.binding)
                        });
                    assert_eq!(got, Some(want.1), "{file:?}: `{name}` at {}", rb.binding);
                }
                1 => {
                    assert_eq!(rb.binding, 0, "{file:?}: `{name}` in group 1");
                    assert_eq!(got, Some(Binding::Uniform), "{file:?}: `{name}` in group 1");
                    step_uniform = true;
                }
                g => panic!("{file:?}: `{name}` in unexpected group {g}"),
            }
        }
        // The register sequence kernel and the wavefront share the recurrent layout but never
        // project: their modules lack w_hr (binding 8), which the layout may hold unused.
        let unused = usize::from(matches!(
            file,
            ShaderFile::SequenceRegisters | ShaderFile::Wavefront
        ));
        assert_eq!(
            group0 + unused,
            expected.len(),
            "{file:?}: group 0 binding count"
        );
        // The dense, swap and pack kernels index no timestep: they have no group 1.
        assert_eq!(step_uniform, file.indexes_steps(), "{file:?}: group 1");
    }
}

#[test]
fn a_gru_input_projection_skips_its_zero_column() {
    for (kind, columns) in [(Kind::Gru, 3), (Kind::Lstm, 4), (Kind::RnnTanh, 4)] {
        for tiled in [false, true] {
            let v = Variant::input_projection(&RnnConfig::new(kind, 8, 16), tiled);
            assert_eq!(v.overrides, Some(Overrides::Gemm { columns }), "{kind:?}");
        }
    }
}

#[test]
fn wgsl_constants_match_rust() {
    let gemm = parse(ShaderFile::Gemm);
    assert_eq!(value_u32(&gemm, "GEMM_WORKGROUP"), GEMM_WORKGROUP);
    assert_eq!(value_u32(&gemm, "GEMM_ROWS"), GEMM_ROWS);
    assert_eq!(value_u32(&gemm, "MAX_DOT_ROWS"), MAX_DOT_ROWS);
    const { assert!(GEMM_ROWS <= MAX_DOT_ROWS) };
    assert_eq!(value_u32(&gemm, "COLS"), GEMM_COLS);
    assert_eq!(value_u32(&gemm, "GEMM_COLUMNS"), GEMM_COLS);
    let recurrent = parse(ShaderFile::Recurrent);
    assert_eq!(value_u32(&recurrent, "MAX_PAIRS"), MAX_PAIRS);
    assert_eq!(value_u32(&recurrent, "PROJECT_WORKGROUP"), STEP_WORKGROUP);
    assert_eq!(value_u32(&recurrent, "MAX_ROWS"), MAX_ROWS);
    // The subgroup reduction's partial sums: 16 pairs for 32 subgroups of at least 4.
    assert!(value_u32(&recurrent, "PARTIALS") >= MAX_PAIRS * MAX_STEP_WORKGROUP / 4);
    let sequence = parse(ShaderFile::Sequence);
    assert_eq!(value_u32(&sequence, "MAX_SEQUENCE_ROWS"), SEQUENCE_MAX_ROWS);
    const { assert!(SEQUENCE_MAX_ROWS <= MAX_DOT_ROWS) };
    assert_eq!(
        value_u32(&sequence, "H_VEC4S") as usize * 4,
        SEQUENCE_H_FLOATS
    );
    assert_eq!(value_u32(&sequence, "M_FLOATS") as usize, SEQUENCE_M_FLOATS);
    let registers = parse(ShaderFile::SequenceRegisters);
    assert_eq!(
        value_u32(&registers, "REGISTER_GROUPS") as usize,
        super::sequence::REGISTER_GROUPS
    );
    let wave = parse(ShaderFile::Wavefront);
    assert_eq!(value_u32(&wave, "WAVE_WORKGROUP"), STEP_WORKGROUP);
    // The wavefront takes the per-step kernel's blocks of sequences.
    const { assert!(MAX_ROWS <= MAX_DOT_ROWS) };
    let dense = parse(ShaderFile::Dense);
    assert_eq!(value_u32(&dense, "DENSE_WORKGROUP"), DENSE_WORKGROUP);
    assert_eq!(value_u32(&dense, "DENSE_ROWS"), DENSE_ROWS);
    assert!(DENSE_ROWS <= value_u32(&dense, "MAX_DENSE_ROWS"));
    assert_eq!(
        value_u32(&parse(ShaderFile::Swap), "SWAP_WORKGROUP"),
        SWAP_WORKGROUP
    );
    assert_eq!(
        value_u32(&parse(ShaderFile::Pack), "PACK_WORKGROUP"),
        PACK_WORKGROUP
    );
}

#[test]
fn host_structs_match_wgsl_layouts() {
    for file in ShaderFile::ALL.into_iter().filter(|f| f.indexes_steps()) {
        let module = parse(file);
        assert_eq!(
            std::mem::size_of::<LayerParams>() as u32,
            struct_size(&module, "Layer"),
            "{file:?}: LayerParams vs struct Layer"
        );
        assert_eq!(
            STEP_SLOT_SIZE as u32,
            struct_size(&module, "Step"),
            "{file:?}: STEP_SLOT_SIZE vs struct Step"
        );
    }
    assert_eq!(
        std::mem::size_of::<DenseParams>() as u32,
        struct_size(&parse(ShaderFile::Dense), "Dense"),
        "DenseParams vs struct Dense"
    );
    assert_eq!(
        std::mem::size_of::<SwapParams>() as u32,
        struct_size(&parse(ShaderFile::Swap), "Swap"),
        "SwapParams vs struct Swap"
    );
    assert_eq!(
        std::mem::size_of::<PackParams>() as u32,
        struct_size(&parse(ShaderFile::Pack), "Pack"),
        "PackParams vs struct Pack"
    );
    assert_eq!(
        std::mem::size_of::<super::wavefront::WaveParams>() as u32,
        struct_size(&parse(ShaderFile::Wavefront), "Wave"),
        "WaveParams vs struct Wave"
    );
}
