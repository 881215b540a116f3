//! Bind group layouts and pipelines: one cache per context, keyed by [`Variant`], holding every
//! pipeline the crate dispatches, built on first use (the input projection and the per-step
//! kernel are compiled with the context, so a context that cannot compile them fails early).

use std::collections::HashMap;
use std::sync::Mutex;

use wgpu::{BindGroupLayout, BindingType, BufferBindingType, ComputePipeline, ShaderStages};

pub(crate) use super::overrides::Overrides;
#[cfg(doc)]
use super::plan::DeviceProfile;
use super::plan::{SequenceShape, StepShape};
use super::scopes::Scopes;
pub(crate) use super::shaders::*;
use crate::config::RnnConfig;
use crate::error::Result;
use crate::Precision;

/// The group 0 bindings of a kernel family as `(binding, kind)`, in binding order; with
/// `uniform_weights`, the sequence kernel's W_hh in four uniform buffers (2, 9, 10, 11).
pub(crate) fn bindings(file: ShaderFile, uniform_weights: bool) -> Vec<(u32, Binding)> {
    use Binding::*;
    let kinds: &[Binding] = match file {
        // layer, x, w_ih, b_ih, gates, x4
        ShaderFile::Gemm => &[Uniform, ReadOnly, ReadOnly, ReadOnly, ReadWrite, ReadOnly],
        // layer, gates, w_hh, b_hh, lengths, state, cell, output, w_hr
        ShaderFile::Recurrent | ShaderFile::Sequence | ShaderFile::SequenceRegisters => &[
            Uniform, ReadOnly, ReadOnly, ReadOnly, ReadOnly, ReadWrite, ReadWrite, ReadWrite,
            ReadOnly,
        ],
        // the same, with every layer's weights at 2 and biases at 3, and the `Wave` table
        ShaderFile::Wavefront => &[
            Uniform, ReadOnly, ReadOnly, ReadOnly, ReadOnly, ReadWrite, ReadWrite, ReadWrite,
            ReadOnly, Uniform,
        ],
        // params, src, weight, bias, lengths, dst
        ShaderFile::Dense => &[Uniform, ReadOnly, ReadOnly, ReadOnly, ReadOnly, ReadWrite],
        // params, src, dst
        ShaderFile::Swap => &[Uniform, ReadOnly, ReadWrite],
        // params, W_hh in rows, dst
        ShaderFile::Pack => &[Uniform, ReadOnly, ReadWrite],
    };
    let mut out: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(i, &kind)| (i as u32, kind))
        .collect();
    if uniform_weights && file.has_uniform_weights() {
        out[2].1 = Uniform;
        out.extend([9, 10, 11].map(|b| (b, Uniform)));
    }
    out
}

/// The kind of one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    Uniform,
    ReadOnly,
    ReadWrite,
}

pub(crate) fn layout_entry(
    binding: u32,
    kind: Binding,
    dynamic: bool,
) -> wgpu::BindGroupLayoutEntry {
    let ty = match kind {
        Binding::Uniform => BufferBindingType::Uniform,
        Binding::ReadOnly => BufferBindingType::Storage { read_only: true },
        Binding::ReadWrite => BufferBindingType::Storage { read_only: false },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: ShaderStages::COMPUTE,
        ty: BindingType::Buffer {
            ty,
            has_dynamic_offset: dynamic,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A pipeline: the entry point, its module's W_hh layout and its pipeline-overridable
/// constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Variant {
    pub kernel: Kernel,
    pub overrides: Option<Overrides>,
    /// The sequence kernel's W_hh in uniform buffers (`SequenceShape::uniform_weights`).
    pub uniform_weights: bool,
    /// How the weight matrices it reads are stored (shaders/half.wesl).
    pub weights: Precision,
}

impl Variant {
    /// The same kernel for weight matrices stored as `weights`.
    pub(crate) fn with_weights(mut self, weights: Precision) -> Self {
        self.weights = weights;
        self
    }

    /// The input projection for layers of `config`'s kind: with tiles of x in workgroup
    /// memory where `tiled` ([`DeviceProfile::tiles_projection`]).
    pub(crate) fn input_projection(config: &RnnConfig, tiled: bool) -> Self {
        Variant {
            kernel: if tiled {
                Kernel::InputProjectionTiled
            } else {
                Kernel::InputProjection
            },
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Gemm {
                columns: match config.kind.gate_count() {
                    1 => 4,
                    gates => gates as u32,
                },
            }),
        }
    }

    /// The per-step kernel (or `lstm_project`, [`Kernel::LstmProject`]) for layers of
    /// `config`'s kind cut as `shape`.
    /// `reset_first`: a GRU whose reset gate multiplies h before the recurrent product
    /// (ONNX's `linear_before_reset = 0`), with [`Kernel::GruReset`] before each step.
    pub(crate) fn step(
        kernel: Kernel,
        config: &RnnConfig,
        shape: StepShape,
        reset_first: bool,
    ) -> Self {
        Variant {
            kernel,
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Step {
                shape,
                gates: config.kind.gate_count() as u32,
                reset_first,
            }),
        }
    }

    /// The sequence kernel cut as `shape`, for layers of `config`'s kind.
    pub(crate) fn sequence(shape: SequenceShape, config: &RnnConfig) -> Self {
        Variant {
            kernel: if shape.registers {
                Kernel::SequenceRegisters
            } else {
                Kernel::Sequence
            },
            uniform_weights: shape.uniform_weights,
            weights: Precision::F32,
            overrides: Some(Overrides::Sequence {
                rows: shape.rows,
                workgroup: shape.workgroup,
                gates: config.kind.gate_count() as u32,
                project: config.proj_size > 0,
            }),
        }
    }

    /// The wavefront step for layers of `config`'s kind and blocks of `rows` sequences.
    pub(crate) fn wave(config: &RnnConfig, rows: u32) -> Self {
        Variant {
            kernel: Kernel::WaveStep,
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Wave {
                rows,
                gates: config.kind.gate_count() as u32,
            }),
        }
    }

    /// A dense kernel (shaders/dense.wesl): no timestep index.
    pub(crate) fn dense(kernel: Kernel) -> Self {
        Variant {
            kernel,
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Dense),
        }
    }

    /// The swap kernel (shaders/swap.wesl).
    pub(crate) fn swap() -> Self {
        Variant {
            kernel: Kernel::SwapBatchTime,
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Swap),
        }
    }

    /// The pack kernel (shaders/pack.wesl).
    pub(crate) fn pack() -> Self {
        Variant {
            kernel: Kernel::PackByUnit,
            uniform_weights: false,
            weights: Precision::F32,
            overrides: Some(Overrides::Pack),
        }
    }
}

/// Layouts, modules and pipelines of one device, each created once.
pub(crate) struct Kernels {
    dot: DotLoop,
    /// Whether f16 weights are widened with `unpack2x16float` (shaders/half.wesl).
    half_builtin: bool,
    /// Group 1 of the kernels that index timesteps ([`ShaderFile::indexes_steps`]): the `Step` slot, chosen with a dynamic
    /// offset.
    pub step_layout: BindGroupLayout,
    layouts: Mutex<HashMap<(ShaderFile, bool), BindGroupLayout>>,
    /// Keyed by family, uniform W_hh, and how weight matrices are stored.
    modules: Mutex<HashMap<(ShaderFile, bool, Precision), wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<Variant, ComputePipeline>>,
}

impl Kernels {
    /// Compiles the input projection's and the per-step kernel's modules from the sources
    /// `source` gives (normally [`ShaderFile::source`]; a unit test breaks them on purpose).
    /// The other modules come from [`ShaderFile::source`] on first use.
    /// Run inside an error scope: a module that does not compile is reported there.
    /// `half_builtin`: the device converts halves natively (`ShaderFile::source`).
    pub(crate) fn new(
        device: &wgpu::Device,
        dot: DotLoop,
        half_builtin: bool,
        source: impl Fn(ShaderFile) -> String,
    ) -> Kernels {
        let step_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wgpu-rnn step index"),
            entries: &[layout_entry(0, Binding::Uniform, true)],
        });
        let modules = [ShaderFile::Gemm, ShaderFile::Recurrent]
            .into_iter()
            .map(|file| {
                (
                    (file, false, Precision::F32),
                    module(device, file, &source(file)),
                )
            })
            .collect();
        Kernels {
            dot,
            half_builtin,
            step_layout,
            layouts: Mutex::default(),
            modules: Mutex::new(modules),
            pipelines: Mutex::default(),
        }
    }

    /// Group 0 of `file`'s kernels (with `uniform_weights` as in [`bindings`]): bind groups
    /// for them are made with this layout.
    pub(crate) fn layout(
        &self,
        device: &wgpu::Device,
        file: ShaderFile,
        uniform_weights: bool,
    ) -> BindGroupLayout {
        let mut layouts = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        layouts
            .entry((file, uniform_weights))
            .or_insert_with(|| {
                let entries: Vec<_> = bindings(file, uniform_weights)
                    .into_iter()
                    .map(|(i, b)| layout_entry(i, b, false))
                    .collect();
                device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(file.name()),
                    entries: &entries,
                })
            })
            .clone()
    }

    /// The pipeline of `v`, compiled now if this is its first use.
    pub(crate) fn pipeline(&self, device: &wgpu::Device, v: Variant) -> Result<ComputePipeline> {
        if let Some(pipeline) = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&v)
        {
            return Ok(pipeline.clone());
        }
        let file = v.kernel.file();
        let uniform_weights = v.uniform_weights && file.has_uniform_weights();
        let weights = if file.has_f16_weights() {
            v.weights
        } else {
            Precision::F32
        };
        let scopes = Scopes::push(device);
        let module = self
            .modules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((file, uniform_weights, weights))
            .or_insert_with(|| {
                module(
                    device,
                    file,
                    file.source(self.dot, uniform_weights, weights, self.half_builtin),
                )
            })
            .clone();
        let group0 = self.layout(device, file, uniform_weights);
        let groups = if file.indexes_steps() {
            vec![Some(&group0), Some(&self.step_layout)]
        } else {
            vec![Some(&group0)]
        };
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(v.kernel.entry_point()),
            bind_group_layouts: &groups,
            immediate_size: 0,
        });
        let constants = v.overrides.map_or_else(Vec::new, Overrides::constants);
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(v.kernel.entry_point()),
            layout: Some(&layout),
            module: &module,
            entry_point: Some(v.kernel.entry_point()),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &constants,
                ..Default::default()
            },
            cache: None,
        });
        scopes.settle("compiling a kernel")?;
        // Another thread may have compiled it meanwhile; either is as good.
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        Ok(pipelines.entry(v).or_insert(pipeline).clone())
    }
}

/// A pipeline and the workgroups it is dispatched over.
pub(crate) struct Dispatch {
    pipeline: ComputePipeline,
    grid: [u32; 3],
}

impl Dispatch {
    /// `v`'s pipeline from `kernels` (compiled now on its first use), over `grid`.
    pub(crate) fn new(
        kernels: &Kernels,
        device: &wgpu::Device,
        v: Variant,
        grid: [u32; 3],
    ) -> Result<Self> {
        Ok(Dispatch {
            pipeline: kernels.pipeline(device, v)?,
            grid,
        })
    }

    /// Sets the pipeline in `pass` (whose bind groups the caller set) and dispatches it.
    pub(crate) fn run(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        self.again(pass);
    }

    /// Dispatches it again, with the pipeline already set by [`Dispatch::run`].
    pub(crate) fn again(&self, pass: &mut wgpu::ComputePass<'_>) {
        let [x, y, z] = self.grid;
        pass.dispatch_workgroups(x, y, z);
    }
}

fn module(device: &wgpu::Device, file: ShaderFile, source: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(file.name()),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}
