//! The WGSL kernels: sources, bind group layouts and pipelines, built once per context.

use std::sync::Mutex;

use wgpu::{BindGroupLayout, BindingType, BufferBindingType, ComputePipeline, ShaderStages};

use super::plan::StepShape;
use super::scopes::Scopes;
use super::sequence::{AdapterKind, SequenceShape, SEQUENCE_MAX_ROWS};
use crate::config::RnnConfig;
use crate::error::Result;

/// Prepended to every kernel file: the shared structs, activations and chunk geometry.
const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// Prepended to both recurrent families: they share one bind group layout.
const RECURRENT_BINDINGS: &str = include_str!("../../shaders/recurrent_bindings.wgsl");
/// How the kernels read a block of k-major packed weights.
const COLUMNS: &str = include_str!("../../shaders/columns.wgsl");
/// The inner loop of the input projection and the recurrent steps.
const DOT: &str = include_str!("../../shaders/dot.wgsl");
/// The cell math of every kind, shared by both recurrent families.
const CELLS: &str = include_str!("../../shaders/cells.wgsl");
/// The sequence kernel's register-resident entry point: needs subgroups.
const SEQUENCE_REGISTERS: &str = include_str!("../../shaders/sequence_registers.wgsl");

/// Which vec4 inner loop (`dot8_vec4`) the input projection and the recurrent steps use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DotLoop {
    /// `shaders/dot_vec4.wgsl`: plain loads, for every device.
    Plain,
    /// `shaders/dot_vec4_subgroup.wgsl`: rows shared through subgroup shuffles, for devices
    /// with `Features::SUBGROUP`.
    Subgroup,
}

impl DotLoop {
    #[cfg(test)]
    pub(crate) const ALL: [DotLoop; 2] = [DotLoop::Plain, DotLoop::Subgroup];

    /// The loop this device can run.
    pub(crate) fn for_device(device: &wgpu::Device) -> DotLoop {
        if device.features().contains(wgpu::Features::SUBGROUP) {
            DotLoop::Subgroup
        } else {
            DotLoop::Plain
        }
    }

    /// The loop for blocks of `rows` rows (the including file's `DOT_ROWS`).
    fn source(self, rows: u32) -> String {
        let vec4 = match self {
            DotLoop::Plain => include_str!("../../shaders/dot_vec4.wgsl"),
            DotLoop::Subgroup => include_str!("../../shaders/dot_vec4_subgroup.wgsl"),
        };
        format!(
            "{COLUMNS}\n{}\n{}",
            expand_rows(DOT, rows),
            expand_rows(vec4, rows)
        )
    }
}

/// Where a kernel reads the rows its inner loop streams: h_{t-1} in the per-step kernels, x
/// in the input projection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Memory {
    /// A storage buffer (`shaders/step_state_storage.wgsl`, `shaders/gemm_rows_storage.wgsl`):
    /// any size, every device.
    Storage,
    /// A uniform buffer of [`UNIFORM_BINDING_VEC4S`] (`shaders/step_state_uniform.wgsl`,
    /// `shaders/gemm_rows_uniform.wgsl`), for CPU adapters where the rows fit: lavapipe
    /// gathers a uniform load across its SIMD lanes at once but loads storage one lane at a
    /// time, inserting each lane's value into the vector through the stack. GPUs keep storage:
    /// their uniform caches serialize lanes that read different addresses.
    Uniform,
    /// A texture of [`TEXTURE_WIDTH`] texels a row (`shaders/gemm_rows_texture.wgsl`): x in
    /// the input projection on CPU adapters where a chunk of it is too large for the uniform
    /// window (see [`WeightMemory::Texture`]). Never h_{t-1}, which the step kernels write a
    /// float at a time: the recurrent families read `Texture` rows as storage.
    Texture,
}

/// Where a kernel reads a layer's packed weight matrix (the input projection's W_ih, the
/// recurrent kernels' W_hh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WeightMemory {
    /// One storage buffer (`shaders/weights_storage.wgsl`): any size, every device, and what
    /// GPUs use.
    Storage,
    /// Four uniform buffers of [`UNIFORM_BINDING_VEC4S`], one per column of each block of four
    /// (`shaders/weights_uniform.wgsl`), for CPU adapters where each fits (as [`Memory`]).
    Uniform,
    /// A 2D `rgba32float` texture, [`TEXTURE_WIDTH`] vec4s per row
    /// (`shaders/weights_texture.wgsl`), for CPU adapters where the matrix is too large for
    /// uniform buffers: lavapipe fetches a texel per lane in one 16-byte load, almost as fast
    /// as a uniform gather and about three times as fast as a storage load.
    Texture,
}

/// Vec4s of every uniform buffer of [`Memory::Uniform`] and of the input projection's window
/// of x: 64 KiB, the uniform binding size every WebGPU device allows
/// (`UNIFORM_BINDING_VEC4S` in common.wgsl).
pub(crate) const UNIFORM_BINDING_VEC4S: usize = 4096;
/// The bindings of the second to fourth column buffers (the first takes the matrix's own,
/// binding 2).
pub(crate) const UNIFORM_COLUMN_BINDINGS: [u32; 3] = [9, 10, 11];

/// Vec4s (rgba32float texels) per row of every texture the kernels read (`TEXTURE_WIDTH` in
/// common.wgsl): 64 KiB rows, within the 8192 texels every WebGPU device allows.
pub(crate) const TEXTURE_WIDTH: usize = 4096;

/// Whether an array of `vec4s` vec4s fits a texture of [`TEXTURE_WIDTH`] texels a row on a
/// device whose 2D textures may be `max_dimension` texels on a side.
pub(crate) fn texture_fits(vec4s: usize, max_dimension: u32) -> bool {
    let side = max_dimension as usize;
    TEXTURE_WIDTH <= side && vec4s.div_ceil(TEXTURE_WIDTH) <= side
}

/// Whether `floats` floats fit one uniform binding on `adapter`: only CPU adapters use them.
fn uniform_fits(floats: usize, adapter: AdapterKind) -> bool {
    matches!(adapter, AdapterKind::Cpu { .. }) && floats <= 4 * UNIFORM_BINDING_VEC4S
}

impl Memory {
    #[cfg(test)]
    pub(crate) const ALL: [Memory; 3] = [Memory::Storage, Memory::Uniform, Memory::Texture];

    /// The dense family's src and weight: uniform windows for `linear` on CPU adapters where
    /// both fit, else storage (`Texture` never reaches it).
    fn dense_operands_source(self) -> &'static str {
        match self {
            Memory::Uniform => include_str!("../../shaders/dense_operands_uniform.wgsl"),
            Memory::Storage | Memory::Texture => {
                include_str!("../../shaders/dense_operands_storage.wgsl")
            }
        }
    }

    fn gemm_rows_source(self) -> &'static str {
        match self {
            Memory::Storage => include_str!("../../shaders/gemm_rows_storage.wgsl"),
            Memory::Uniform => include_str!("../../shaders/gemm_rows_uniform.wgsl"),
            Memory::Texture => include_str!("../../shaders/gemm_rows_texture.wgsl"),
        }
    }
}

/// Where the input projection writes its output (`gates`, [D][chunk_steps x B][gate_stride]
/// floats) and the recurrent kernels read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GatesMemory {
    /// A storage buffer (`shaders/gemm_gates_storage.wgsl`, `shaders/gates_storage.wgsl`):
    /// GPUs.
    Storage,
    /// An rgba32float texture of [`TEXTURE_WIDTH`] texels a row, written as a storage texture
    /// (`shaders/gemm_gates_texture.wgsl`) and read as a sampled one
    /// (`shaders/gates_texture.wgsl`): CPU adapters, where a texel fetch costs a fraction of a
    /// storage load (see [`WeightMemory::Texture`]).
    Texture,
}

impl GatesMemory {
    #[cfg(test)]
    pub(crate) const ALL: [GatesMemory; 2] = [GatesMemory::Storage, GatesMemory::Texture];

    /// The memory for chunks of `steps` timesteps of `step_vec4s` vec4s each on `adapter`,
    /// where 2D textures may be `max_texture_dimension` texels on a side, and the steps of a
    /// chunk there. `unit_texels` is H for a GRU or LSTM, whose units' gates are one texel
    /// each, and `None` for the Elman RNN, whose kernels would fetch a texel for each float.
    ///
    /// A texture on CPU adapters for GRU and LSTM layers from H = 32 where a chunk fills at
    /// least one row of it, with chunks cut to fit it. Narrower or smaller ones cost more
    /// than their loads save; alternated runs on lavapipe, T=64 (storage against texture,
    /// ms): GRU B=8 H=16 1.76 against 2.24, GRU B=1 H=16 0.79 against 0.94, RNN-tanh B=8
    /// H=128 7.0 against 8.0; but GRU B=8 H=64 7.6 against 7.0, LSTM B=1 H=64 2.7 against 2.2.
    pub(crate) fn for_chunks(
        step_vec4s: usize,
        steps: usize,
        unit_texels: Option<usize>,
        adapter: AdapterKind,
        max_texture_dimension: u32,
    ) -> (GatesMemory, usize) {
        let capacity = TEXTURE_WIDTH * max_texture_dimension as usize;
        match adapter {
            AdapterKind::Cpu { .. }
                if unit_texels.is_some_and(|hidden| hidden >= 32)
                    && step_vec4s * steps >= TEXTURE_WIDTH
                    && texture_fits(step_vec4s, max_texture_dimension) =>
            {
                (GatesMemory::Texture, steps.min(capacity / step_vec4s))
            }
            _ => (GatesMemory::Storage, steps),
        }
    }

    /// The recurrent kernels' reader.
    fn source(self) -> &'static str {
        match self {
            GatesMemory::Storage => include_str!("../../shaders/gates_storage.wgsl"),
            GatesMemory::Texture => include_str!("../../shaders/gates_texture.wgsl"),
        }
    }

    /// The input projection's writer.
    fn gemm_source(self) -> &'static str {
        match self {
            GatesMemory::Storage => include_str!("../../shaders/gemm_gates_storage.wgsl"),
            GatesMemory::Texture => include_str!("../../shaders/gemm_gates_texture.wgsl"),
        }
    }
}

impl WeightMemory {
    #[cfg(test)]
    pub(crate) const ALL: [WeightMemory; 3] = [
        WeightMemory::Storage,
        WeightMemory::Uniform,
        WeightMemory::Texture,
    ];

    /// The memory for a packed matrix of `floats` floats (`gpu::pack`) on `adapter`, where 2D
    /// textures may be `max_texture_dimension` texels on a side: uniform buffers on CPU
    /// adapters where a quarter fits each, else a texture where it fits one, else storage.
    pub(crate) fn for_matrix(
        floats: usize,
        adapter: AdapterKind,
        max_texture_dimension: u32,
    ) -> WeightMemory {
        if uniform_fits(floats.div_ceil(4), adapter) {
            return WeightMemory::Uniform;
        }
        match adapter {
            AdapterKind::Cpu { .. } if texture_fits(floats.div_ceil(4), max_texture_dimension) => {
                WeightMemory::Texture
            }
            _ => WeightMemory::Storage,
        }
    }

    fn source(self) -> &'static str {
        match self {
            WeightMemory::Storage => include_str!("../../shaders/weights_storage.wgsl"),
            WeightMemory::Uniform => include_str!("../../shaders/weights_uniform.wgsl"),
            WeightMemory::Texture => include_str!("../../shaders/weights_texture.wgsl"),
        }
    }
}

/// Repeats each line of `source` that contains `$` once per row, `$` replaced by the row's
/// index: the dot loops name one accumulator per row (shaders/dot.wgsl).
fn expand_rows(source: &str, rows: u32) -> String {
    let mut out = String::with_capacity(source.len() * 2);
    for line in source.lines() {
        if line.contains('$') {
            for row in 0..rows {
                out.push_str(&line.replace('$', &row.to_string()));
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One WGSL file per kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ShaderFile {
    /// `shaders/gemm.wgsl`: the input projection of a chunk of timesteps.
    Gemm,
    /// `shaders/recurrent.wgsl`: the fused per-timestep recurrent steps.
    Recurrent,
    /// `shaders/sequence.wgsl`: whole chunks of timesteps per dispatch, one workgroup per block
    /// of sequences.
    Sequence,
    /// `shaders/wavefront.wgsl`: one dispatch per step of every layer of a unidirectional
    /// stack at once.
    Wavefront,
    /// `shaders/dense.wgsl`: `nn.Linear`, activations and the last-step selection around the
    /// recurrence. Compiled on first use (`crate::dense`), not with the context.
    Dense,
}

impl ShaderFile {
    #[cfg(test)]
    pub(crate) const ALL: [ShaderFile; 5] = [
        ShaderFile::Gemm,
        ShaderFile::Recurrent,
        ShaderFile::Sequence,
        ShaderFile::Wavefront,
        ShaderFile::Dense,
    ];

    /// The file name under `shaders/`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ShaderFile::Gemm => "gemm.wgsl",
            ShaderFile::Recurrent => "recurrent.wgsl",
            ShaderFile::Sequence => "sequence.wgsl",
            ShaderFile::Wavefront => "wavefront.wgsl",
            ShaderFile::Dense => "dense.wgsl",
        }
    }

    /// The complete module source, for the largest block of sequences and every operand in
    /// storage (what the context compiles up front).
    pub(crate) fn source(self, dot: DotLoop) -> String {
        let rows = match self {
            ShaderFile::Sequence => SEQUENCE_MAX_ROWS,
            _ => BATCH_BLOCK,
        };
        self.source_for(
            dot,
            rows,
            WeightMemory::Storage,
            Memory::Storage,
            GatesMemory::Storage,
        )
    }

    /// The complete module source: the shared snippets, then the kernel file. The recurrent
    /// families are written for a block of `rows` sequences (`BATCH_BLOCK` per step,
    /// `SEQUENCE_ROWS` in the sequence kernel); the others ignore `rows`. `weights` is where
    /// the packed matrix lives (the dense family has none), `row_memory` where the inner loop
    /// reads its rows (h_{t-1} in the per-step kernels, x in the input projection; the others
    /// ignore it), `gates` where the input projection writes and the recurrent kernels read.
    pub(crate) fn source_for(
        self,
        dot: DotLoop,
        rows: u32,
        weights: WeightMemory,
        row_memory: Memory,
        gates: GatesMemory,
    ) -> String {
        let weights = weights.source();
        let recurrent = |block: &str, file: &str, state: &str| {
            format!(
                "{COMMON}\n{RECURRENT_BINDINGS}\n{}\n{weights}\n{state}\n{CELLS}\nconst {block}: u32 = {rows}u;\n{}\n{}",
                gates.source(),
                dot.source(rows),
                expand_rows(file, rows)
            )
        };
        match self {
            ShaderFile::Gemm => format!(
                "{COMMON}\n{weights}\n{}\n{}\n{}\n{}",
                gates.gemm_source(),
                row_memory.gemm_rows_source(),
                dot.source(GEMM_ROWS),
                include_str!("../../shaders/gemm.wgsl")
            ),
            // Self-contained but for the shared snippets: its sizes are overrides.
            ShaderFile::Recurrent => format!(
                "{COMMON}\n{RECURRENT_BINDINGS}\n{}\n{}\n{CELLS}\n{}\n{}",
                gates.source(),
                include_str!("../../shaders/step_state_storage.wgsl"),
                include_str!("../../shaders/recurrent.wgsl"),
                match dot {
                    DotLoop::Plain => include_str!("../../shaders/step_reduce_workgroup.wgsl"),
                    DotLoop::Subgroup => include_str!("../../shaders/step_reduce_subgroup.wgsl"),
                }
            ),
            ShaderFile::Sequence => {
                let sequence = recurrent(
                    "SEQUENCE_ROWS",
                    include_str!("../../shaders/sequence.wgsl"),
                    "",
                );
                match dot {
                    DotLoop::Plain => sequence,
                    DotLoop::Subgroup => {
                        format!("{sequence}\n{}", expand_rows(SEQUENCE_REGISTERS, rows))
                    }
                }
            }
            ShaderFile::Wavefront => format!(
                "{COMMON}\n{RECURRENT_BINDINGS}\n{}\n{CELLS}\nconst BATCH_BLOCK: u32 = {rows}u;\n{}\n{}",
                GatesMemory::Storage.source(),
                dot.source(rows),
                expand_rows(include_str!("../../shaders/wavefront.wgsl"), rows)
            ),
            ShaderFile::Dense => format!(
                "{COMMON}\n{}\n{}",
                row_memory.dense_operands_source(),
                include_str!("../../shaders/dense.wgsl")
            ),
        }
    }
}

/// Every entry point the crate dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    InputProjection,
    /// The per-step kernel of every kind (its `GATES` override), shaders/recurrent.wgsl.
    Step,
    LstmProject,
    Sequence,
    /// The sequence kernel with h in registers (shaders/sequence_registers.wgsl): only on
    /// devices with subgroups.
    SequenceRegisters,
    /// A step of every layer of a unidirectional stack (shaders/wavefront.wgsl).
    WaveStep,
    Linear,
    LastStep,
    Activate,
}

impl Kernel {
    /// In declaration order: `pipelines[kernel as usize]` is the kernel's pipeline.
    pub(crate) const ALL: [Kernel; 9] = [
        Kernel::InputProjection,
        Kernel::Step,
        Kernel::LstmProject,
        Kernel::Sequence,
        Kernel::SequenceRegisters,
        Kernel::WaveStep,
        Kernel::Linear,
        Kernel::LastStep,
        Kernel::Activate,
    ];

    pub(crate) fn file(self) -> ShaderFile {
        match self {
            Kernel::InputProjection => ShaderFile::Gemm,
            Kernel::Sequence | Kernel::SequenceRegisters => ShaderFile::Sequence,
            Kernel::WaveStep => ShaderFile::Wavefront,
            Kernel::Linear | Kernel::LastStep | Kernel::Activate => ShaderFile::Dense,
            _ => ShaderFile::Recurrent,
        }
    }

    pub(crate) fn entry_point(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection",
            Kernel::Step => "recurrent_step",
            Kernel::LstmProject => "lstm_project",
            Kernel::Sequence => "sequence",
            Kernel::SequenceRegisters => "sequence_registers",
            Kernel::WaveStep => "wave_step",
            Kernel::Linear => "linear",
            Kernel::LastStep => "last_step",
            Kernel::Activate => "activate",
        }
    }
}

/// Invocations per workgroup of the input projection (`GEMM_WORKGROUP` in gemm.wgsl).
pub(crate) const GEMM_WORKGROUP: u32 = 64;
/// Rows of `x` each input-projection invocation computes (`ROWS` in gemm.wgsl).
pub(crate) const GEMM_ROWS: u32 = 16;
/// Gate rows each input-projection invocation computes (`COLS` in gemm.wgsl).
pub(crate) const GEMM_COLS: u32 = 4;
/// Invocations per workgroup of the wavefront and of `lstm_project` (recurrent.wgsl); the
/// per-step kernel's width is its `WORKGROUP` override (`gpu::plan::StepShape`).
pub(crate) const STEP_WORKGROUP: u32 = 64;
/// Input-projection invocations per block of [`GEMM_ROWS`] rows (`layer.gemm_block` in
/// gemm.wgsl) for `columns` vec4s of gate rows: on CPU adapters the power of two that holds
/// them, at least one SIMD vector, so that a narrow layer's workgroup computes several blocks
/// instead of discarding most of its invocations (GRU B=8 H=16 on lavapipe: the projection
/// was about a third of the forward pass); on GPUs the whole workgroup, whose subgroups may be
/// as wide as it.
pub(crate) fn gemm_block(columns: usize, adapter: AdapterKind) -> u32 {
    match adapter {
        AdapterKind::Cpu { lanes, .. } if lanes.is_power_of_two() && lanes <= GEMM_WORKGROUP => {
            (columns.next_power_of_two() as u32).clamp(lanes, GEMM_WORKGROUP)
        }
        _ => GEMM_WORKGROUP,
    }
}

/// Sequences each invocation of the wavefront computes at most (`BATCH_BLOCK` in
/// wavefront.wgsl): the block the tests validate.
pub(crate) const BATCH_BLOCK: u32 = 8;

/// Size of one `Step` slot in WGSL; slots sit `min_uniform_buffer_offset_alignment` apart.
pub(crate) const STEP_SLOT_SIZE: u64 = 16;
/// Invocations per workgroup of the dense kernels (`DENSE_WORKGROUP` in dense.wgsl).
pub(crate) const DENSE_WORKGROUP: u32 = 64;
/// Rows each `linear` invocation computes (`DENSE_ROWS` in dense.wgsl).
pub(crate) const DENSE_ROWS: u32 = 8;

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
    pub gate_stride: u32,
    pub gate_count: u32,
    pub gemm_block: u32,
}

/// Mirrors `struct Dense` in shaders/dense.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct DenseParams {
    pub rows: u32,
    pub in_features: u32,
    pub out_features: u32,
    pub out4: u32,
    pub activation: u32,
    pub seq_len: u32,
    pub batch: u32,
    pub split: u32,
}

/// The group 0 bindings of a kernel family as `(binding, kind)`, with the layer's weight matrix
/// in `weights` (the dense family has none and ignores it), the rows of its inner loop in
/// `row_memory` (h_{t-1} in the per-step kernels, x in the input projection; the sequence
/// kernel keeps h in workgroup memory and ignores it) and the input projection's output in
/// `gates`.
pub(crate) fn bindings(
    file: ShaderFile,
    weights: WeightMemory,
    row_memory: Memory,
    gates: GatesMemory,
) -> Vec<(u32, Binding)> {
    let mut out: Vec<(u32, Binding)> = binding_kinds(file)
        .iter()
        .enumerate()
        .map(|(i, &kind)| (i as u32, kind))
        .collect();
    // Binding 2 holds the matrix in every family that streams one.
    match weights {
        // The wavefront reads every layer's matrices from one storage buffer.
        _ if matches!(file, ShaderFile::Dense | ShaderFile::Wavefront) => {}
        WeightMemory::Storage => {}
        // The per-step kernel reads W_hh in rows from storage (recurrent.wgsl).
        _ if file == ShaderFile::Recurrent => {}
        WeightMemory::Uniform => {
            out[2].1 = Binding::Uniform;
            out.extend(UNIFORM_COLUMN_BINDINGS.map(|b| (b, Binding::Uniform)));
        }
        WeightMemory::Texture => out[2].1 = Binding::Texture,
    }
    match (file, gates) {
        (ShaderFile::Gemm, GatesMemory::Texture) => out[4].1 = Binding::StorageTexture,
        (ShaderFile::Recurrent | ShaderFile::Sequence, GatesMemory::Texture) => {
            out[1].1 = Binding::Texture
        }
        _ => {}
    }
    match (file, row_memory) {
        (ShaderFile::Gemm, Memory::Uniform | Memory::Texture) => {
            // x's window or texture at binding 1; no vec4 view of it at 5.
            out[1].1 = match row_memory {
                Memory::Uniform => Binding::Uniform,
                _ => Binding::Texture,
            };
            out.retain(|&(binding, _)| binding != 5);
        }
        // src's window and the padded weight.
        (ShaderFile::Dense, Memory::Uniform) => {
            out[1].1 = Binding::Uniform;
            out[2].1 = Binding::Uniform;
        }
        _ => {}
    }
    out
}

/// The group 0 bindings 0, 1, ... of a kernel family with its weights in storage.
fn binding_kinds(file: ShaderFile) -> &'static [Binding] {
    use Binding::*;
    match file {
        // layer, x, w_ih, b_ih, gates, x4
        ShaderFile::Gemm => &[Uniform, ReadOnly, ReadOnly, ReadOnly, ReadWrite, ReadOnly],
        // layer, gates, w_hh, b_hh, lengths, state, cell, output, w_hr
        ShaderFile::Recurrent | ShaderFile::Sequence => &[
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
    }
}

/// The kind of one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    Uniform,
    ReadOnly,
    ReadWrite,
    /// An unfilterable `texture_2d<f32>`, read with `textureLoad`.
    Texture,
    /// A write-only `texture_storage_2d<rgba32float, write>`.
    StorageTexture,
}

pub(crate) fn layout_entry(
    binding: u32,
    kind: Binding,
    dynamic: bool,
) -> wgpu::BindGroupLayoutEntry {
    let buffer = |ty| BindingType::Buffer {
        ty,
        has_dynamic_offset: dynamic,
        min_binding_size: None,
    };
    let ty = match kind {
        Binding::Uniform => buffer(BufferBindingType::Uniform),
        Binding::ReadOnly => buffer(BufferBindingType::Storage { read_only: true }),
        Binding::ReadWrite => buffer(BufferBindingType::Storage { read_only: false }),
        Binding::Texture => BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable: false },
            view_dimension: wgpu::TextureViewDimension::D2,
            multisampled: false,
        },
        Binding::StorageTexture => BindingType::StorageTexture {
            access: wgpu::StorageTextureAccess::WriteOnly,
            format: wgpu::TextureFormat::Rgba32Float,
            view_dimension: wgpu::TextureViewDimension::D2,
        },
    };
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: ShaderStages::COMPUTE,
        ty,
        count: None,
    }
}

/// Layouts and pipelines, created once per device.
pub(crate) struct Kernels {
    /// Group 0 of each family for where its operands live, created on first use.
    layouts: Mutex<Vec<(LayoutKey, BindGroupLayout)>>,
    /// Group 1 of every kernel: the `Step` slot, chosen with a dynamic offset.
    pub step_layout: BindGroupLayout,
    pipelines: Vec<ComputePipeline>,
    dot: DotLoop,
    /// Variants for other blocks and workgroup widths, compiled on first use: few models
    /// need more than one or two.
    variants: Mutex<Variants>,
}

/// A kernel that streams a weight matrix, compiled for where the matrix lives, for the
/// recurrent families for blocks of `rows` sequences, and with its family's
/// pipeline-overridable constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Variant {
    pub kernel: Kernel,
    pub rows: u32,
    pub overrides: Option<Overrides>,
    pub weights: WeightMemory,
    /// Where the inner loop reads its rows: h_{t-1} in the per-step kernels, x in the input
    /// projection (storage for the sequence kernel).
    pub row_memory: Memory,
    /// Where the input projection writes its output and the recurrent kernels read it.
    pub gates: GatesMemory,
}

/// What a group 0 layout depends on: the family and where its operands live.
type LayoutKey = (ShaderFile, WeightMemory, Memory, GatesMemory);

/// A family's pipeline-overridable constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overrides {
    /// The input projection's columns per block of four that hold weights (`GEMM_COLUMNS`).
    Gemm { columns: u32 },
    /// The sequence kernel's workgroup width and the layer's kind (gate count, and whether it
    /// projects).
    Sequence {
        workgroup: u32,
        gates: u32,
        project: bool,
    },
    /// The wavefront's layer kind (`WAVE_GATES`: its gate count).
    Wave { gates: u32 },
    /// The per-step kernel's cut and the layer's gate count (`UNITS`, `ROWS`, `WORKGROUP`,
    /// `GATES` in recurrent.wgsl; `lstm_project` reads `ROWS`).
    Step { shape: StepShape, gates: u32 },
}

impl Overrides {
    /// As `PipelineCompilationOptions::constants` takes them (names as in the WGSL).
    fn constants(self) -> Vec<(&'static str, f64)> {
        match self {
            Overrides::Gemm { columns } => vec![("GEMM_COLUMNS", f64::from(columns))],
            Overrides::Sequence {
                workgroup,
                gates,
                project,
            } => vec![
                ("SEQUENCE_WORKGROUP", f64::from(workgroup)),
                ("SEQUENCE_GATES", f64::from(gates)),
                ("SEQUENCE_PROJECT", f64::from(u8::from(project))),
            ],
            Overrides::Wave { gates } => vec![("WAVE_GATES", f64::from(gates))],
            Overrides::Step { shape, gates } => vec![
                ("UNITS", f64::from(shape.units)),
                ("ROWS", f64::from(shape.rows)),
                ("WORKGROUP", f64::from(shape.workgroup)),
                ("GATES", f64::from(gates)),
            ],
        }
    }
}

impl Variant {
    /// The input projection for layers of `config`'s kind, reading W_ih from `weights` and x
    /// from `row_memory`, writing to `gates`.
    pub(crate) fn input_projection(
        config: &RnnConfig,
        weights: WeightMemory,
        row_memory: Memory,
        gates: GatesMemory,
    ) -> Self {
        Variant {
            kernel: Kernel::InputProjection,
            rows: GEMM_ROWS,
            overrides: Some(Overrides::Gemm {
                columns: match config.kind.gate_count() {
                    1 => 4,
                    gates => gates as u32,
                },
            }),
            weights,
            row_memory,
            gates,
        }
    }

    /// The per-step kernel (or `lstm_project`, [`Kernel::LstmProject`]) for layers of
    /// `config`'s kind cut as `shape`, reading the input projection from `gates`.
    pub(crate) fn step(
        kernel: Kernel,
        config: &RnnConfig,
        shape: StepShape,
        gates: GatesMemory,
    ) -> Self {
        Variant {
            kernel,
            rows: 0, // the module does not depend on it: ROWS is an override
            overrides: Some(Overrides::Step {
                shape,
                gates: config.kind.gate_count() as u32,
            }),
            weights: WeightMemory::Storage,
            row_memory: Memory::Storage,
            gates,
        }
    }

    /// The sequence kernel cut as `shape` (with h in registers where
    /// [`SequenceShape::registers`]), for layers of `config`'s kind.
    pub(crate) fn sequence(
        shape: SequenceShape,
        config: &RnnConfig,
        weights: WeightMemory,
        gates: GatesMemory,
    ) -> Self {
        Variant {
            kernel: if shape.registers {
                Kernel::SequenceRegisters
            } else {
                Kernel::Sequence
            },
            rows: shape.rows,
            overrides: Some(Overrides::Sequence {
                workgroup: shape.workgroup,
                gates: config.kind.gate_count() as u32,
                project: config.proj_size > 0,
            }),
            weights,
            row_memory: Memory::Storage,
            gates,
        }
    }

    /// The wavefront step for layers of `config`'s kind and blocks of `rows` sequences.
    pub(crate) fn wave(config: &RnnConfig, rows: u32) -> Self {
        Variant {
            kernel: Kernel::WaveStep,
            rows,
            overrides: Some(Overrides::Wave {
                gates: config.kind.gate_count() as u32,
            }),
            weights: WeightMemory::Storage,
            row_memory: Memory::Storage,
            gates: GatesMemory::Storage,
        }
    }

    fn layout_key(self) -> LayoutKey {
        (
            self.kernel.file(),
            self.weights,
            self.row_memory,
            self.gates,
        )
    }

    /// Whether the context compiled this one up front (`Kernels::pipeline`).
    fn prebuilt(self) -> bool {
        self.weights == WeightMemory::Storage
            && self.row_memory == Memory::Storage
            && self.gates == GatesMemory::Storage
            && match self.kernel.file() {
                // The default, with which the context compiles it.
                ShaderFile::Gemm => self.overrides == Some(Overrides::Gemm { columns: 4 }),
                ShaderFile::Recurrent
                | ShaderFile::Sequence
                | ShaderFile::Wavefront
                | ShaderFile::Dense => false,
            }
    }
}

/// What a module depends on: the family, its block of rows, and where its operands live.
type ModuleKey = (ShaderFile, u32, WeightMemory, Memory, GatesMemory);

#[derive(Default)]
struct Variants {
    modules: Vec<(ModuleKey, wgpu::ShaderModule)>,
    pipelines: Vec<(Variant, ComputePipeline)>,
}

impl Kernels {
    /// Compiles every kernel from the sources `source` gives (normally [`ShaderFile::source`];
    /// a unit test breaks them on purpose). Run inside an error scope.
    pub(crate) fn with_sources(
        device: &wgpu::Device,
        dot: DotLoop,
        source: impl Fn(ShaderFile) -> String,
    ) -> Kernels {
        let layouts = Mutex::default();
        let step_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("wgpu-rnn step index"),
            entries: &[layout_entry(0, Binding::Uniform, true)],
        });
        // The families before the sequence kernel are compiled now. The sequence kernel's
        // variants and the dense family are compiled on first use (`Kernels::sequence`,
        // `crate::dense`): contexts that never run them do not pay for them.
        let modules: Vec<wgpu::ShaderModule> = [ShaderFile::Gemm, ShaderFile::Recurrent]
            .iter()
            .map(|file| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(file.name()),
                    source: wgpu::ShaderSource::Wgsl(source(*file).into()),
                })
            })
            .collect();
        let pipelines = Kernel::ALL
            .iter()
            .filter_map(|&kernel| {
                let file = kernel.file();
                if file >= ShaderFile::Sequence {
                    return None;
                }
                let key = (
                    file,
                    WeightMemory::Storage,
                    Memory::Storage,
                    GatesMemory::Storage,
                );
                let group0 = layout(&layouts, device, key);
                let module = &modules[file as usize];
                Some(compute_pipeline(
                    device,
                    kernel,
                    &[&group0, &step_layout],
                    module,
                    &[],
                ))
            })
            .collect();
        Kernels {
            layouts,
            step_layout,
            pipelines,
            dot,
            variants: Mutex::default(),
        }
    }

    /// Group 0 of `v`'s pipeline: bind groups for it are made with this layout.
    pub(crate) fn layout(&self, device: &wgpu::Device, v: Variant) -> BindGroupLayout {
        layout(&self.layouts, device, v.layout_key())
    }

    /// The pipeline of a kernel compiled with the context: the input projection and the
    /// per-step kernels, with their weights in storage.
    fn pipeline(&self, kernel: Kernel) -> &ComputePipeline {
        debug_assert!(
            kernel.file() < ShaderFile::Sequence,
            "{kernel:?} is built on first use"
        );
        &self.pipelines[kernel as usize]
    }

    /// A kernel that streams weights, for their memory, block and workgroup width: compiled
    /// with the context, or now if this is its first use.
    pub(crate) fn variant(&self, device: &wgpu::Device, v: Variant) -> Result<ComputePipeline> {
        let file = v.kernel.file();
        if v.prebuilt() {
            return Ok(self.pipeline(v.kernel).clone());
        }
        let mut variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pipeline)) = variants.pipelines.iter().find(|(have, _)| *have == v) {
            return Ok(pipeline.clone());
        }
        let scopes = Scopes::push(device);
        let key = (file, v.rows, v.weights, v.row_memory, v.gates);
        let index = match variants.modules.iter().position(|(have, _)| *have == key) {
            Some(index) => index,
            None => {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(file.name()),
                    source: wgpu::ShaderSource::Wgsl(
                        file.source_for(self.dot, v.rows, v.weights, v.row_memory, v.gates)
                            .into(),
                    ),
                });
                variants.modules.push((key, module));
                variants.modules.len() - 1
            }
        };
        let module = &variants.modules[index].1;
        let constants = v.overrides.map_or_else(Vec::new, Overrides::constants);
        let group0 = self.layout(device, v);
        let pipeline = compute_pipeline(
            device,
            v.kernel,
            &[&group0, &self.step_layout],
            module,
            &constants,
        );
        pollster::block_on(scopes.pop("compiling a kernel variant"))?;
        variants.pipelines.push((v, pipeline.clone()));
        Ok(pipeline)
    }
}

/// The group 0 layout for `key` from `cache`, created there on first use.
fn layout(
    cache: &Mutex<Vec<(LayoutKey, BindGroupLayout)>>,
    device: &wgpu::Device,
    key: LayoutKey,
) -> BindGroupLayout {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, layout)) = cache.iter().find(|(have, _)| *have == key) {
        return layout.clone();
    }
    let (file, weights, rows, gates) = key;
    let entries: Vec<_> = bindings(file, weights, rows, gates)
        .into_iter()
        .map(|(i, b)| layout_entry(i, b, false))
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(file.name()),
        entries: &entries,
    });
    cache.push((key, layout.clone()));
    layout
}

fn compute_pipeline(
    device: &wgpu::Device,
    kernel: Kernel,
    groups: &[&BindGroupLayout],
    module: &wgpu::ShaderModule,
    constants: &[(&str, f64)],
) -> ComputePipeline {
    let groups: Vec<_> = groups.iter().map(|g| Some(*g)).collect();
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(kernel.entry_point()),
        bind_group_layouts: &groups,
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(kernel.entry_point()),
        layout: Some(&layout),
        module,
        entry_point: Some(kernel.entry_point()),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

#[cfg(test)]
mod tests {
    //! The WGSL sources checked without a GPU: they parse and validate with naga, every entry
    //! point the crate dispatches exists, and the bindings and struct layouts agree with the
    //! Rust side (the bind group layouts in `Kernels::with_sources` and `LayerParams`).

    use super::super::sequence::{SEQUENCE_H_FLOATS, SEQUENCE_M_FLOATS};
    use super::*;
    use naga::valid::{
        Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator,
    };
    use naga::{AddressSpace, Module, ShaderStage, StorageAccess};

    /// The module as a device without subgroups compiles it.
    fn parse(file: ShaderFile) -> Module {
        parse_with(file, DotLoop::Plain)
    }

    fn parse_with(file: ShaderFile, dot: DotLoop) -> Module {
        parse_memory(file, dot, STORAGE)
    }

    /// Every operand in storage, as on GPUs.
    const STORAGE: Operands = (WeightMemory::Storage, Memory::Storage, GatesMemory::Storage);

    /// Where the weights, the rows (h_{t-1} or x) and the gates live.
    type Operands = (WeightMemory, Memory, GatesMemory);

    /// Every combination of [`Operands`].
    fn all_operands() -> Vec<Operands> {
        WeightMemory::ALL
            .into_iter()
            .flat_map(|w| Memory::ALL.map(|r| (w, r)))
            .flat_map(|(w, r)| GatesMemory::ALL.map(|g| (w, r, g)))
            .collect()
    }

    /// The module with its weights in `weights` and the per-step kernels' h_{t-1} in `state`,
    /// for the largest block of sequences.
    fn parse_memory(file: ShaderFile, dot: DotLoop, operands: Operands) -> Module {
        let (weights, state, gates) = operands;
        let rows = match file {
            ShaderFile::Sequence => SEQUENCE_MAX_ROWS,
            _ => BATCH_BLOCK,
        };
        let source = file.source_for(dot, rows, weights, state, gates);
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{file:?}: {}", e.emit_to_string(&source)));
        let capabilities = match dot {
            DotLoop::Plain => Capabilities::default(),
            DotLoop::Subgroup => Capabilities::default() | Capabilities::SUBGROUP,
        };
        Validator::new(ValidationFlags::all(), capabilities)
            .subgroup_stages(ShaderStages::COMPUTE)
            .subgroup_operations(SubgroupOperationSet::all())
            .validate(&module)
            .unwrap_or_else(|e| {
                panic!(
                    "{file:?} with {dot:?}, {operands:?}: {}",
                    e.emit_to_string(&source)
                )
            });
        module
    }

    /// Size in bytes of the WGSL struct named `name`.
    fn struct_size(module: &Module, name: &str) -> u32 {
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, ty)| ty.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no struct {name}"));
        ty.inner.size(module.to_ctx())
    }

    /// The layout entry kind that the global `var` in `module` needs.
    fn binding_of(module: &Module, var: &naga::GlobalVariable) -> Option<Binding> {
        match var.space {
            AddressSpace::Handle => match module.types[var.ty].inner {
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class:
                        naga::ImageClass::Sampled {
                            kind: naga::ScalarKind::Float,
                            multi: false,
                        },
                } => Some(Binding::Texture),
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class:
                        naga::ImageClass::Storage {
                            format: naga::StorageFormat::Rgba32Float,
                            access: naga::StorageAccess::STORE,
                        },
                } => Some(Binding::StorageTexture),
                _ => None,
            },
            AddressSpace::Uniform => Some(Binding::Uniform),
            AddressSpace::Storage { access } if access.contains(StorageAccess::STORE) => {
                Some(Binding::ReadWrite)
            }
            AddressSpace::Storage { .. } => Some(Binding::ReadOnly),
            _ => None,
        }
    }

    #[test]
    fn narrow_input_projections_share_a_workgroup_in_whole_simd_vectors() {
        let cpu = |lanes| AdapterKind::Cpu { threads: 2, lanes };
        for (columns, adapter, block) in [
            // GRU H=16: 16 vec4s of gate rows, four blocks of rows per workgroup.
            (16, cpu(8), 16),
            // Never narrower than a SIMD vector, whose lanes share their rows.
            (4, cpu(8), 8),
            (4, cpu(16), 16),
            (20, cpu(8), 32),
            (64, cpu(8), 64),
            (1000, cpu(8), 64),
            // Lanes that no power of two holds: the whole workgroup.
            (16, cpu(12), GEMM_WORKGROUP),
            (16, AdapterKind::Gpu, GEMM_WORKGROUP),
        ] {
            assert_eq!(gemm_block(columns, adapter), block, "{columns} {adapter:?}");
        }
    }

    #[test]
    fn expand_rows_repeats_only_the_marked_lines() {
        let expanded = expand_rows("fn f() {\n    a$ += r[$];\n}", 3);
        assert_eq!(
            expanded,
            "fn f() {\n    a0 += r[0];\n    a1 += r[1];\n    a2 += r[2];\n}\n"
        );
    }

    #[test]
    fn lists_follow_declaration_order() {
        for (i, kernel) in Kernel::ALL.iter().enumerate() {
            assert_eq!(*kernel as usize, i, "{kernel:?}");
        }
        for (i, file) in ShaderFile::ALL.iter().enumerate() {
            assert_eq!(*file as usize, i, "{file:?}");
        }
    }

    #[test]
    fn every_shader_parses_and_validates_with_either_inner_loop_and_operand_memory() {
        for file in ShaderFile::ALL {
            for dot in DotLoop::ALL {
                for operands in all_operands() {
                    parse_memory(file, dot, operands);
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
        for file in ShaderFile::ALL {
            for (weights, state, gates) in all_operands() {
                let entries = bindings(file, weights, state, gates);
                let count = |kind: &dyn Fn(Binding) -> bool| {
                    entries.iter().filter(|(_, b)| kind(*b)).count() as u32
                };
                let storage = count(&|b| matches!(b, Binding::ReadOnly | Binding::ReadWrite));
                let uniform =
                    count(&|b| b == Binding::Uniform) + u32::from(file != ShaderFile::Dense);
                let textures = count(&|b| b == Binding::Texture);
                let storage_textures = count(&|b| b == Binding::StorageTexture);
                let what = format!("{file:?}, {weights:?} {state:?} {gates:?}");
                assert!(
                    storage <= limits.max_storage_buffers_per_shader_stage,
                    "{what}: {storage} storage buffers"
                );
                assert!(
                    uniform <= limits.max_uniform_buffers_per_shader_stage,
                    "{what}: {uniform} uniform buffers"
                );
                assert!(
                    textures <= limits.max_sampled_textures_per_shader_stage,
                    "{what}: {textures} textures"
                );
                assert!(
                    storage_textures <= limits.max_storage_textures_per_shader_stage,
                    "{what}: {storage_textures} storage textures"
                );
            }
        }
    }

    #[test]
    fn uniform_operands_only_on_cpu_adapters_and_only_where_they_fit_64_kib() {
        let cpu = AdapterKind::Cpu {
            threads: 2,
            lanes: 8,
        };
        let side = wgpu::Limits::default().max_texture_dimension_2d;
        // GRU or LSTM, H = 128, one direction: 128 * 128 * 4 floats, each part exactly 64 KiB.
        let fits = 128 * 128 * 4;
        let matrix = |floats, adapter| WeightMemory::for_matrix(floats, adapter, side);
        assert_eq!(matrix(fits, cpu), WeightMemory::Uniform);
        assert_eq!(UNIFORM_BINDING_VEC4S * 16, 65536);
        // Larger: a texture of 4096 vec4s a row, up to the device's side in rows.
        assert_eq!(matrix(fits + 16, cpu), WeightMemory::Texture);
        let most = 4 * TEXTURE_WIDTH * side as usize;
        assert_eq!(matrix(most, cpu), WeightMemory::Texture);
        assert_eq!(matrix(most + 1, cpu), WeightMemory::Storage);
        // A device whose textures are narrower than a row.
        let narrow = TEXTURE_WIDTH as u32 - 1;
        assert_eq!(
            WeightMemory::for_matrix(fits + 16, cpu, narrow),
            WeightMemory::Storage
        );
        // GPUs read every matrix from storage.
        assert_eq!(matrix(16, AdapterKind::Gpu), WeightMemory::Storage);
        assert_eq!(matrix(fits + 16, AdapterKind::Gpu), WeightMemory::Storage);
    }

    #[test]
    fn gates_in_a_texture_on_cpu_adapters_where_a_chunk_fills_a_row() {
        let cpu = AdapterKind::Cpu {
            threads: 2,
            lanes: 8,
        };
        let side = wgpu::Limits::default().max_texture_dimension_2d;
        let chunks = |step_vec4s, steps, adapter| {
            GatesMemory::for_chunks(step_vec4s, steps, Some(128), adapter, side)
        };
        // GRU B=8 H=128: 1024 vec4s a step, 64 steps.
        assert_eq!(chunks(1024, 64, cpu), (GatesMemory::Texture, 64));
        // Exactly one row, and less.
        assert_eq!(chunks(64, 64, cpu), (GatesMemory::Texture, 64));
        assert_eq!(chunks(64, 63, cpu), (GatesMemory::Storage, 63));
        // A chunk larger than the largest texture is cut to fit it.
        let capacity = TEXTURE_WIDTH * side as usize;
        assert_eq!(chunks(capacity / 3, 8, cpu), (GatesMemory::Texture, 3));
        // A step larger than the largest texture stays in storage, uncut.
        assert_eq!(chunks(capacity + 1, 8, cpu), (GatesMemory::Storage, 8));
        assert_eq!(
            chunks(1024, 64, AdapterKind::Gpu),
            (GatesMemory::Storage, 64)
        );
        // Narrow GRU and LSTM layers, and the Elman RNN, keep storage.
        let unit_texels = |texels| GatesMemory::for_chunks(1024, 64, texels, cpu, side);
        assert_eq!(unit_texels(Some(32)).0, GatesMemory::Texture);
        assert_eq!(unit_texels(Some(16)).0, GatesMemory::Storage);
        assert_eq!(unit_texels(None).0, GatesMemory::Storage);
    }

    /// Every block size the sequence kernel is built with, with either inner loop: the
    /// modules validate, and it leaves its workgroup width to the pipeline.
    #[test]
    fn every_block_size_validates() {
        for (rows, dot, weights) in [1, 2, 4, 8].into_iter().flat_map(|rows| {
            DotLoop::ALL
                .into_iter()
                .flat_map(move |dot| WeightMemory::ALL.map(|weights| (rows, dot, weights)))
        }) {
            {
                // Gates in a texture with uniform weights: each snippet is independent of the
                // others (every combination is validated above).
                let gates = match weights {
                    WeightMemory::Uniform => GatesMemory::Texture,
                    _ => GatesMemory::Storage,
                };
                let source =
                    ShaderFile::Sequence.source_for(dot, rows, weights, Memory::Storage, gates);
                let module = naga::front::wgsl::parse_str(&source)
                    .unwrap_or_else(|e| panic!("rows {rows}: {}", e.emit_to_string(&source)));
                assert_eq!(const_u32(&module, "SEQUENCE_ROWS"), rows);
                let capabilities = Capabilities::default() | Capabilities::SUBGROUP;
                let mut validator = Validator::new(ValidationFlags::all(), capabilities);
                validator
                    .subgroup_stages(ShaderStages::COMPUTE)
                    .subgroup_operations(SubgroupOperationSet::all());
                validator.validate(&module).unwrap_or_else(|e| {
                    panic!("rows {rows} {dot:?}: {}", e.emit_to_string(&source))
                });
                // The width is the pipeline's to choose (gpu::sequence), up to this.
                let width = module
                    .overrides
                    .iter()
                    .find(|(_, o)| o.name.as_deref() == Some("SEQUENCE_WORKGROUP"))
                    .expect("the SEQUENCE_WORKGROUP override");
                assert!(width.1.init.is_some(), "SEQUENCE_WORKGROUP has a default");
            }
        }
    }

    #[test]
    fn every_kernel_entry_point_exists_as_a_compute_shader() {
        for kernel in Kernel::ALL {
            // The register-resident sequence kernel exists only where subgroups do.
            let module = match kernel {
                Kernel::SequenceRegisters => parse_with(kernel.file(), DotLoop::Subgroup),
                _ => parse(kernel.file()),
            };
            let entry = module
                .entry_points
                .iter()
                .find(|e| e.name == kernel.entry_point())
                .unwrap_or_else(|| panic!("{kernel:?}: no entry point {}", kernel.entry_point()));
            assert_eq!(entry.stage, ShaderStage::Compute, "{kernel:?}");
            // The dispatch arithmetic in gpu::encode divides by these; the sequence kernel's
            // width is the pipeline's SEQUENCE_WORKGROUP override.
            let expected = match kernel.file() {
                ShaderFile::Gemm => [GEMM_WORKGROUP, 1, 1],
                ShaderFile::Recurrent if kernel == Kernel::Step => {
                    let sizes = entry.workgroup_size_overrides.expect("an override");
                    assert!(sizes[0].is_some() && sizes[1].is_none(), "{sizes:?}");
                    continue;
                }
                ShaderFile::Recurrent | ShaderFile::Wavefront => [STEP_WORKGROUP, 1, 1],
                ShaderFile::Sequence => {
                    let sizes = entry.workgroup_size_overrides.expect("an override");
                    assert!(sizes[0].is_some() && sizes[1].is_none(), "{sizes:?}");
                    continue;
                }
                ShaderFile::Dense => [DENSE_WORKGROUP, 1, 1],
            };
            assert_eq!(entry.workgroup_size, expected, "{kernel:?} workgroup size");
        }
    }

    #[test]
    fn bindings_match_the_bind_group_layouts() {
        for (file, operands) in ShaderFile::ALL
            .into_iter()
            .flat_map(|file| all_operands().into_iter().map(move |o| (file, o)))
        {
            let module = parse_memory(file, DotLoop::Plain, operands);
            let (weights, state, gates) = operands;
            let expected = bindings(file, weights, state, gates);
            let mut group0 = 0;
            let mut step_uniform = false;
            for (_, var) in module.global_variables.iter() {
                let Some(rb) = &var.binding else { continue };
                let name = var.name.as_deref().unwrap_or("?");
                let got = binding_of(&module, var);
                match rb.group {
                    0 => {
                        group0 += 1;
                        let want = expected
                            .iter()
                            .find(|(binding, _)| *binding == rb.binding)
                            .unwrap_or_else(|| {
                                panic!(
                                    "{file:?} {operands:?}: `{name}` at binding {} has no layout entry",
                                    rb.binding
                                )
                            });
                        assert_eq!(
                            got,
                            Some(want.1),
                            "{file:?} {operands:?}: `{name}` at @group(0) @binding({})",
                            rb.binding
                        );
                    }
                    1 => {
                        assert_eq!(rb.binding, 0, "{file:?}: `{name}` in group 1");
                        assert_eq!(got, Some(Binding::Uniform), "{file:?}: `{name}` in group 1");
                        step_uniform = true;
                    }
                    g => panic!("{file:?}: `{name}` in unexpected group {g}"),
                }
            }
            assert_eq!(
                group0,
                expected.len(),
                "{file:?} {operands:?}: group 0 binding count"
            );
            // The dense kernels index no timestep: they have no group 1.
            assert_eq!(
                step_uniform,
                file != ShaderFile::Dense,
                "{file:?}: uniform at @group(1) @binding(0)"
            );
        }
    }

    /// The default of the pipeline-overridable constant `name`.
    fn override_u32(module: &Module, name: &str) -> u32 {
        let (_, o) = module
            .overrides
            .iter()
            .find(|(_, o)| o.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no override {name}"));
        literal_u32(module, o.init.expect("a default"), name)
    }

    /// The u32 literal a module-scope expression of `module` is (`name` for the message).
    fn literal_u32(module: &Module, init: naga::Handle<naga::Expression>, name: &str) -> u32 {
        match module.global_expressions[init] {
            naga::Expression::Literal(naga::Literal::U32(value)) => value,
            ref e => panic!("{name} is not a u32 literal: {e:?}"),
        }
    }

    #[test]
    fn a_gru_input_projection_skips_its_zero_column() {
        use crate::config::Kind;
        let memory = (WeightMemory::Uniform, Memory::Uniform, GatesMemory::Texture);
        for (kind, columns) in [(Kind::Gru, 3), (Kind::Lstm, 4), (Kind::RnnTanh, 4)] {
            let config = RnnConfig::new(kind, 8, 16);
            let v = Variant::input_projection(&config, memory.0, memory.1, memory.2);
            assert_eq!(v.overrides, Some(Overrides::Gemm { columns }), "{kind:?}");
            // The pipeline compiled with the context has the default, 4 columns.
            let storage = Variant::input_projection(
                &config,
                WeightMemory::Storage,
                Memory::Storage,
                GatesMemory::Storage,
            );
            assert_eq!(storage.prebuilt(), columns == 4, "{kind:?}");
        }
    }

    /// The value of the WGSL `const NAME: u32` in `module`.
    fn const_u32(module: &Module, name: &str) -> u32 {
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no const {name}"));
        literal_u32(module, c.init, name)
    }

    #[test]
    fn wgsl_constants_match_rust() {
        let gemm = parse(ShaderFile::Gemm);
        let recurrent = parse(ShaderFile::Recurrent);
        assert_eq!(const_u32(&gemm, "GEMM_WORKGROUP"), GEMM_WORKGROUP);
        assert_eq!(const_u32(&gemm, "ROWS"), GEMM_ROWS);
        assert_eq!(const_u32(&gemm, "COLS"), GEMM_COLS);
        assert_eq!(override_u32(&gemm, "GEMM_COLUMNS"), GEMM_COLS);
        use super::super::plan::{MAX_PAIRS, MAX_ROWS, MAX_STEP_WORKGROUP};
        assert_eq!(const_u32(&recurrent, "MAX_PAIRS"), MAX_PAIRS);
        assert_eq!(const_u32(&recurrent, "MAX_ROWS"), MAX_ROWS);
        // The subgroup reduction's partial sums: 16 pairs for 32 subgroups of at least 4.
        assert!(const_u32(&recurrent, "PARTIALS") >= MAX_PAIRS * MAX_STEP_WORKGROUP / 4);
        let wave = parse(ShaderFile::Wavefront);
        assert_eq!(const_u32(&wave, "BATCH_BLOCK"), BATCH_BLOCK);
        let uniform = parse_memory(
            ShaderFile::Gemm,
            DotLoop::Plain,
            (WeightMemory::Uniform, Memory::Uniform, GatesMemory::Storage),
        );
        assert_eq!(
            const_u32(&uniform, "UNIFORM_BINDING_VEC4S") as usize,
            UNIFORM_BINDING_VEC4S
        );
        assert_eq!(const_u32(&gemm, "TEXTURE_WIDTH") as usize, TEXTURE_WIDTH);
        let sequence = parse(ShaderFile::Sequence);
        assert_eq!(const_u32(&sequence, "SEQUENCE_ROWS"), SEQUENCE_MAX_ROWS);
        assert_eq!(
            const_u32(&sequence, "H_VEC4S") as usize * 4,
            SEQUENCE_H_FLOATS
        );
        assert_eq!(const_u32(&sequence, "M_FLOATS") as usize, SEQUENCE_M_FLOATS);
        let registers = parse_with(ShaderFile::Sequence, DotLoop::Subgroup);
        assert_eq!(
            const_u32(&registers, "REGISTER_GROUPS") as usize,
            super::super::sequence::REGISTER_GROUPS
        );
        let dense = parse(ShaderFile::Dense);
        assert_eq!(const_u32(&dense, "DENSE_WORKGROUP"), DENSE_WORKGROUP);
        assert_eq!(const_u32(&dense, "DENSE_ROWS"), DENSE_ROWS);
    }

    #[test]
    fn host_structs_match_wgsl_layouts() {
        for file in ShaderFile::ALL {
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
        let wave = parse(ShaderFile::Wavefront);
        assert_eq!(
            std::mem::size_of::<super::super::wavefront::WaveParams>() as u32,
            struct_size(&wave, "Wave"),
            "WaveParams vs struct Wave"
        );
    }
}
