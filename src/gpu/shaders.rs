//! The WGSL sources: one file per kernel family under `shaders/`, the shared snippets each
//! family includes, the entry points the crate dispatches, and the sizes the Rust side shares
//! with them (a test checks every one against the WGSL: `gpu::shader_tests`).

/// Shared by every family: the `Layer` and `Step` structs, activations, chunk geometry.
const COMMON: &str = include_str!("../../shaders/common.wgsl");
/// The group 0 bindings the recurrent families share.
const RECURRENT_BINDINGS: &str = include_str!("../../shaders/recurrent_bindings.wgsl");
/// The input projection's output as the recurrent families read it.
const GATES: &str = include_str!("../../shaders/gates_storage.wgsl");
/// A packed weight matrix at binding 2, read by the serial inner loop (dot.wgsl).
const WEIGHTS: &str = include_str!("../../shaders/weights_storage.wgsl");
/// The same in four uniform buffers: the software profile's sequence kernel.
const WEIGHTS_UNIFORM: &str = include_str!("../../shaders/weights_uniform.wgsl");
/// h_{t-1} and h_t in the ping-pong state, for the per-step kernel.
const STEP_STATE: &str = include_str!("../../shaders/step_state_storage.wgsl");
/// The cell math of every kind, shared by the recurrent families.
const CELLS: &str = include_str!("../../shaders/cells.wgsl");
/// The k-major packing that the serial inner loop reads (`dot_columns`).
const COLUMNS: &str = include_str!("../../shaders/columns.wgsl");
/// The serial inner loop over K for a block of rows (`dot_rows`).
const DOT: &str = include_str!("../../shaders/dot.wgsl");
/// The sequence kernel with h in registers (the software profile's; needs subgroups).
const SEQUENCE_REGISTERS: &str = include_str!("../../shaders/sequence_registers.wgsl");

/// Which inner loops a device runs: with subgroup operations or without.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DotLoop {
    /// `shaders/dot_vec4.wgsl` and `step_reduce_workgroup.wgsl`: plain loads and a reduction
    /// in workgroup memory, for every device.
    Plain,
    /// `shaders/dot_vec4_subgroup.wgsl` and `step_reduce_subgroup.wgsl`: rows shared through
    /// subgroup shuffles and sums reduced with `subgroupAdd`, for devices with
    /// `Features::SUBGROUP`.
    Subgroup,
}

impl DotLoop {
    #[cfg(test)]
    pub(crate) const ALL: [DotLoop; 2] = [DotLoop::Plain, DotLoop::Subgroup];

    /// The loops a device with `features` from the adapter `info` describes runs.
    pub(crate) fn for_device(features: wgpu::Features, info: &wgpu::AdapterInfo) -> DotLoop {
        if super::plan::subgroups_usable(features, info) {
            DotLoop::Subgroup
        } else {
            DotLoop::Plain
        }
    }

    /// The serial loop for blocks of `rows` rows (the including file's `DOT_ROWS`).
    fn serial(self, rows: u32) -> String {
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

    /// The per-step kernel's entry point, with its reduction.
    fn step_reduce(self) -> &'static str {
        match self {
            DotLoop::Plain => include_str!("../../shaders/step_reduce_workgroup.wgsl"),
            DotLoop::Subgroup => include_str!("../../shaders/step_reduce_subgroup.wgsl"),
        }
    }
}

/// Repeats each line of `source` that contains `$` once per row, `$` replaced by the row's
/// index: the serial loops name one accumulator per row (shaders/dot.wgsl).
pub(crate) fn expand_rows(source: &str, rows: u32) -> String {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ShaderFile {
    /// `shaders/gemm.wgsl`: the input projection of a chunk of timesteps.
    Gemm,
    /// `shaders/recurrent.wgsl`: the fused per-timestep recurrent step.
    Recurrent,
    /// `shaders/sequence.wgsl`: whole chunks of timesteps per dispatch, one workgroup per block
    /// of sequences.
    Sequence,
    /// `shaders/wavefront.wgsl`: one dispatch per step of every layer of a unidirectional
    /// stack at once.
    Wavefront,
    /// `shaders/dense.wgsl`: `nn.Linear`, activations and the last-step selection around the
    /// recurrence.
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

    /// Whether the module depends on a block of rows (`SEQUENCE_ROWS`, `BATCH_BLOCK`): the
    /// serial loops keep one named accumulator per row.
    pub(crate) fn has_rows(self) -> bool {
        matches!(self, ShaderFile::Sequence | ShaderFile::Wavefront)
    }

    /// The complete module source: the shared snippets, then the kernel file. The sequence
    /// kernel and the wavefront are written for a block of `rows` sequences (`SEQUENCE_ROWS`,
    /// `BATCH_BLOCK`); the others ignore `rows`.
    pub(crate) fn source(self, dot: DotLoop, rows: u32) -> String {
        self.source_with(dot, rows, false)
    }

    /// As [`ShaderFile::source`], with the sequence kernel's W_hh in four uniform buffers
    /// where `uniform_weights` (weights_uniform.wgsl; the others ignore it).
    pub(crate) fn source_with(self, dot: DotLoop, rows: u32, uniform_weights: bool) -> String {
        let serial = |block: &str, file: &str, weights: &str| {
            format!(
                "{COMMON}\n{RECURRENT_BINDINGS}\n{GATES}\n{weights}\n{CELLS}\nconst {block}: u32 = {rows}u;\n{}\n{}",
                dot.serial(rows),
                expand_rows(file, rows)
            )
        };
        match self {
            ShaderFile::Gemm => format!(
                "{COMMON}\n{WEIGHTS}\n{}\n{}",
                dot.serial(GEMM_ROWS),
                include_str!("../../shaders/gemm.wgsl")
            ),
            ShaderFile::Recurrent => format!(
                "{COMMON}\n{RECURRENT_BINDINGS}\n{GATES}\n{STEP_STATE}\n{CELLS}\n{}\n{}",
                include_str!("../../shaders/recurrent.wgsl"),
                dot.step_reduce()
            ),
            ShaderFile::Sequence => {
                let sequence = serial(
                    "SEQUENCE_ROWS",
                    include_str!("../../shaders/sequence.wgsl"),
                    if uniform_weights {
                        WEIGHTS_UNIFORM
                    } else {
                        WEIGHTS
                    },
                );
                match dot {
                    DotLoop::Plain => sequence,
                    DotLoop::Subgroup => {
                        format!("{sequence}\n{}", expand_rows(SEQUENCE_REGISTERS, rows))
                    }
                }
            }
            // The wavefront declares its own weights: every layer's in one arena.
            ShaderFile::Wavefront => serial(
                "BATCH_BLOCK",
                include_str!("../../shaders/wavefront.wgsl"),
                "",
            ),
            ShaderFile::Dense => format!("{COMMON}\n{}", include_str!("../../shaders/dense.wgsl")),
        }
    }
}

/// Every entry point the crate dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    InputProjection,
    /// The per-step kernel of every kind (its `GATES` override).
    Step,
    LstmProject,
    Sequence,
    /// The sequence kernel with h in registers (shaders/sequence_registers.wgsl): only on
    /// devices with subgroups.
    SequenceRegisters,
    /// A step of every layer of a unidirectional stack.
    WaveStep,
    Linear,
    LastStep,
    Activate,
}

impl Kernel {
    #[cfg(test)]
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
            Kernel::Step | Kernel::LstmProject => ShaderFile::Recurrent,
            Kernel::Sequence | Kernel::SequenceRegisters => ShaderFile::Sequence,
            Kernel::WaveStep => ShaderFile::Wavefront,
            Kernel::Linear | Kernel::LastStep | Kernel::Activate => ShaderFile::Dense,
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
/// Size of one `Step` slot in WGSL; slots sit `min_uniform_buffer_offset_alignment` apart.
pub(crate) const STEP_SLOT_SIZE: u64 = 16;
/// Invocations per workgroup of the dense kernels (`DENSE_WORKGROUP` in dense.wgsl).
pub(crate) const DENSE_WORKGROUP: u32 = 64;
/// Rows each `linear` invocation computes (`DENSE_ROWS` in dense.wgsl).
pub(crate) const DENSE_ROWS: u32 = 8;

/// Floats of workgroup memory that hold a sequence-kernel block's h (`H_VEC4S` x 4 in
/// sequence.wgsl): h_{t-1} and h_t of every sequence of the block.
pub(crate) const SEQUENCE_H_FLOATS: usize = 2048;
/// Floats of workgroup memory for a block's o * tanh(c) with proj_size (`M_FLOATS`).
pub(crate) const SEQUENCE_M_FLOATS: usize = 1024;
/// Bytes of workgroup memory the sequence kernel declares.
pub(crate) const SEQUENCE_WORKGROUP_STORAGE: u64 =
    ((SEQUENCE_H_FLOATS + SEQUENCE_M_FLOATS) * 4) as u64;
/// Most sequences one sequence-kernel workgroup computes.
#[cfg(test)]
pub(crate) const SEQUENCE_MAX_ROWS: u32 = 8;
/// Most invocations of a sequence-kernel workgroup (what the context requires of the device).
pub(crate) const SEQUENCE_MAX_WORKGROUP: u32 = 256;

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
