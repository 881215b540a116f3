//! The WGSL kernels: sources, bind group layouts and pipelines, built once per context.

use wgpu::{BindGroupLayout, BindingType, BufferBindingType, ComputePipeline, ShaderStages};

/// Prepended to every kernel file: the shared structs, activations and chunk geometry.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// One WGSL file per kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShaderFile {
    /// `shaders/gemm.wgsl`: the input projection of a chunk of timesteps.
    Gemm,
    /// `shaders/recurrent.wgsl`: the fused per-timestep recurrent steps.
    Recurrent,
}

impl ShaderFile {
    pub(crate) const ALL: [ShaderFile; 2] = [ShaderFile::Gemm, ShaderFile::Recurrent];

    /// The complete module source: the common snippet, then the kernel file.
    pub(crate) fn source(self) -> String {
        let body = match self {
            ShaderFile::Gemm => include_str!("../../shaders/gemm.wgsl"),
            ShaderFile::Recurrent => include_str!("../../shaders/recurrent.wgsl"),
        };
        format!("{COMMON}\n{body}")
    }
}

/// Every entry point the crate dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    InputProjection,
    GruStep,
    LstmStep,
    LstmProject,
    RnnStep,
}

impl Kernel {
    pub(crate) const ALL: [Kernel; 5] = [
        Kernel::InputProjection,
        Kernel::GruStep,
        Kernel::LstmStep,
        Kernel::LstmProject,
        Kernel::RnnStep,
    ];

    pub(crate) fn file(self) -> ShaderFile {
        match self {
            Kernel::InputProjection => ShaderFile::Gemm,
            _ => ShaderFile::Recurrent,
        }
    }

    pub(crate) fn entry_point(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection",
            Kernel::GruStep => "gru_step",
            Kernel::LstmStep => "lstm_step",
            Kernel::LstmProject => "lstm_project",
            Kernel::RnnStep => "rnn_step",
        }
    }
}

/// Workgroup edge of the input-projection tile (`TILE` in gemm.wgsl).
pub(crate) const GEMM_TILE: u32 = 16;
/// Invocations per workgroup of the step kernels (`WORKGROUP` in recurrent.wgsl).
pub(crate) const STEP_WORKGROUP: u32 = 64;
/// Size of one `Step` slot in WGSL; slots sit `min_uniform_buffer_offset_alignment` apart.
pub(crate) const STEP_SLOT_SIZE: u64 = 16;

/// Mirrors `struct Layer` in shaders/common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct LayerParams {
    pub seq_len: u32,
    pub batch: u32,
    pub in_size: u32,
    pub hidden: u32,
    pub state_width: u32,
    pub directions: u32,
    pub chunk_steps: u32,
    pub gate_rows: u32,
    pub relu: u32,
    pub project: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// How each binding of a kernel family is used, in binding order (group 0).
pub(crate) fn bindings(file: ShaderFile) -> &'static [Binding] {
    use Binding::*;
    match file {
        // layer, x, w_ih, b_ih, gates
        ShaderFile::Gemm => &[Uniform, ReadOnly, ReadOnly, ReadOnly, ReadWrite],
        // layer, gates, w_hh, b_hh, lengths, state, cell, output, w_hr
        ShaderFile::Recurrent => &[
            Uniform, ReadOnly, ReadOnly, ReadOnly, ReadOnly, ReadWrite, ReadWrite, ReadWrite,
            ReadOnly,
        ],
    }
}

/// The kind of one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    Uniform,
    ReadOnly,
    ReadWrite,
}

fn layout_entry(binding: u32, kind: Binding, dynamic: bool) -> wgpu::BindGroupLayoutEntry {
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

/// Layouts and pipelines, created once per device.
pub(crate) struct Kernels {
    pub gemm_layout: BindGroupLayout,
    pub recurrent_layout: BindGroupLayout,
    /// Group 1 of every kernel: the `Step` slot, chosen with a dynamic offset.
    pub step_layout: BindGroupLayout,
    pipelines: Vec<ComputePipeline>,
}

impl Kernels {
    /// Compiles every kernel. Run inside an error scope: a failure is reported there.
    pub(crate) fn new(device: &wgpu::Device) -> Kernels {
        let group0 = |file: ShaderFile, label: &str| {
            let entries: Vec<_> = bindings(file)
                .iter()
                .enumerate()
                .map(|(i, &b)| layout_entry(i as u32, b, false))
                .collect();
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries: &entries,
            })
        };
        let gemm_layout = group0(ShaderFile::Gemm, "wgpu-rnn gemm");
        let recurrent_layout = group0(ShaderFile::Recurrent, "wgpu-rnn recurrent");
        let step_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wgpu-rnn step index"),
            entries: &[layout_entry(0, Binding::Uniform, true)],
        });
        let modules: Vec<wgpu::ShaderModule> = ShaderFile::ALL
            .iter()
            .map(|file| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(match file {
                        ShaderFile::Gemm => "gemm.wgsl",
                        ShaderFile::Recurrent => "recurrent.wgsl",
                    }),
                    source: wgpu::ShaderSource::Wgsl(file.source().into()),
                })
            })
            .collect();
        let pipelines = Kernel::ALL
            .iter()
            .map(|kernel| {
                let group0 = match kernel.file() {
                    ShaderFile::Gemm => &gemm_layout,
                    ShaderFile::Recurrent => &recurrent_layout,
                };
                let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(kernel.entry_point()),
                    bind_group_layouts: &[Some(group0), Some(&step_layout)],
                    immediate_size: 0,
                });
                let module = &modules[ShaderFile::ALL
                    .iter()
                    .position(|f| *f == kernel.file())
                    .unwrap_or(0)];
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry_point()),
                    layout: Some(&layout),
                    module,
                    entry_point: Some(kernel.entry_point()),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .collect();
        Kernels {
            gemm_layout,
            recurrent_layout,
            step_layout,
            pipelines,
        }
    }

    pub(crate) fn pipeline(&self, kernel: Kernel) -> &ComputePipeline {
        &self.pipelines[Kernel::ALL.iter().position(|k| *k == kernel).unwrap_or(0)]
    }
}
