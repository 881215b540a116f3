//! The shader modules: one WGSL module per kernel family and feature set, compiled at build
//! time from the WESL files under `shaders/` (build.rs lists them all), the entry points the
//! crate dispatches, and the sizes the Rust side shares with them (a test checks every one
//! against the WGSL: `gpu::shader_tests`).

use crate::Precision;

/// The WGSL that build.rs wrote for module `name` (`$OUT_DIR/<name>.wgsl`).
macro_rules! module {
    ($name:literal) => {
        include_str!(concat!(env!("OUT_DIR"), "/", $name, ".wgsl"))
    };
}

/// Which inner loops a device runs: with subgroup operations or without (the WESL feature
/// `subgroups`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum DotLoop {
    /// Plain loads and reductions in workgroup memory (dot_vec4.wesl, and `recurrent_step`'s
    /// tree), for every device.
    Plain,
    /// Rows shared through subgroup shuffles (dot_vec4_subgroup.wesl) and sums reduced with
    /// `subgroupAdd`, for devices with `Features::SUBGROUP`.
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
}

/// One root WESL file per kernel family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ShaderFile {
    /// `shaders/gemm.wesl`: the input projection of a chunk of timesteps.
    Gemm,
    /// `shaders/recurrent.wesl`: the fused per-timestep recurrent step.
    Recurrent,
    /// `shaders/sequence.wesl`: whole chunks of timesteps per dispatch, one workgroup per block
    /// of sequences.
    Sequence,
    /// `shaders/sequence_registers.wesl`: the same with h in registers, for the software
    /// profile (devices with subgroups only).
    SequenceRegisters,
    /// `shaders/wavefront.wesl`: one dispatch per step of every layer of a unidirectional
    /// stack at once.
    Wavefront,
    /// `shaders/dense.wesl`: `nn.Linear`, activations and the last-step selection around the
    /// recurrence.
    Dense,
    /// `shaders/swap.wesl`: batch and time axes swapped, for a `batch_first` model's
    /// GPU-resident input and output.
    Swap,
    /// `shaders/pack.wesl`: W_hh's rows packed by unit on the device, for the sequence kernel
    /// and the wavefront.
    Pack,
}

impl ShaderFile {
    #[cfg(test)]
    pub(crate) const ALL: [ShaderFile; 8] = [
        ShaderFile::Gemm,
        ShaderFile::Recurrent,
        ShaderFile::Sequence,
        ShaderFile::SequenceRegisters,
        ShaderFile::Wavefront,
        ShaderFile::Dense,
        ShaderFile::Swap,
        ShaderFile::Pack,
    ];

    /// The root file's name under `shaders/`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ShaderFile::Gemm => "gemm.wesl",
            ShaderFile::Recurrent => "recurrent.wesl",
            ShaderFile::Sequence => "sequence.wesl",
            ShaderFile::SequenceRegisters => "sequence_registers.wesl",
            ShaderFile::Wavefront => "wavefront.wesl",
            ShaderFile::Dense => "dense.wesl",
            ShaderFile::Swap => "swap.wesl",
            ShaderFile::Pack => "pack.wesl",
        }
    }

    /// Whether the family's kernels read a timestep index (group 1, the `Step` slot): all but
    /// the dense, swap and pack kernels, which work on whole arrays.
    pub(crate) fn indexes_steps(self) -> bool {
        !matches!(
            self,
            ShaderFile::Dense | ShaderFile::Swap | ShaderFile::Pack
        )
    }

    /// Whether the family reads W_hh through columns.wesl, which takes it from four uniform
    /// buffers with `uniform_weights` (the software profile's sequence kernels).
    pub(crate) fn has_uniform_weights(self) -> bool {
        matches!(self, ShaderFile::Sequence | ShaderFile::SequenceRegisters)
    }

    /// Whether build.rs builds a module of this family for `dot` (the register sequence
    /// kernel exists only where subgroups do).
    #[cfg(test)]
    pub(crate) fn builds(self, dot: DotLoop) -> bool {
        self != ShaderFile::SequenceRegisters || dot == DotLoop::Subgroup
    }

    /// Whether build.rs builds the family again with `f16_weights` (shaders/half.wesl):
    /// every family that reads weight matrices as numbers (the pack kernel moves their bits).
    pub(crate) fn has_f16_weights(self) -> bool {
        !matches!(self, ShaderFile::Swap | ShaderFile::Pack)
    }

    /// The module for a device that runs `dot`, with W_hh in uniform buffers where
    /// `uniform_weights` and the family has them ([`ShaderFile::has_uniform_weights`]), and
    /// weight matrices stored as `weights`, halves widened by `unpack2x16float` where
    /// `half_builtin` (the device has `DownlevelFlags::SHADER_F16_IN_F32`), by integer
    /// operations otherwise (shaders/half.wesl). Uniform weights are f32 only: an f16 model
    /// never plans them (`gpu::choice::sequence_cut`). Row counts, widths and the layer's
    /// kind are override constants of the pipeline.
    pub(crate) fn source(
        self,
        dot: DotLoop,
        uniform_weights: bool,
        weights: Precision,
        half_builtin: bool,
    ) -> &'static str {
        if weights == Precision::F16 && self.has_f16_weights() {
            return match half_builtin {
                true => self.source_f16(dot),
                false => self.source_f16_bits(dot),
            };
        }
        let uniform = uniform_weights && self.has_uniform_weights();
        match (self, dot, uniform) {
            (ShaderFile::Gemm, DotLoop::Plain, _) => module!("gemm_plain"),
            (ShaderFile::Gemm, DotLoop::Subgroup, _) => module!("gemm_subgroups"),
            (ShaderFile::Recurrent, DotLoop::Plain, _) => module!("recurrent_plain"),
            (ShaderFile::Recurrent, DotLoop::Subgroup, _) => module!("recurrent_subgroups"),
            (ShaderFile::Sequence, DotLoop::Plain, false) => module!("sequence_plain"),
            (ShaderFile::Sequence, DotLoop::Subgroup, false) => module!("sequence_subgroups"),
            (ShaderFile::Sequence, DotLoop::Plain, true) => module!("sequence_plain_uniform"),
            (ShaderFile::Sequence, DotLoop::Subgroup, true) => {
                module!("sequence_subgroups_uniform")
            }
            // Without subgroups the plan never picks it; a device would refuse the module.
            (ShaderFile::SequenceRegisters, _, false) => module!("sequence_registers_subgroups"),
            (ShaderFile::SequenceRegisters, _, true) => {
                module!("sequence_registers_subgroups_uniform")
            }
            (ShaderFile::Wavefront, DotLoop::Plain, _) => module!("wavefront_plain"),
            (ShaderFile::Wavefront, DotLoop::Subgroup, _) => module!("wavefront_subgroups"),
            (ShaderFile::Dense, _, _) => module!("dense"),
            (ShaderFile::Swap, _, _) => module!("swap"),
            (ShaderFile::Pack, _, _) => module!("pack"),
        }
    }

    /// The `f16_weights` module of the family for `dot` that widens halves with integer
    /// operations.
    fn source_f16_bits(self, dot: DotLoop) -> &'static str {
        match (self, dot) {
            (ShaderFile::Gemm, DotLoop::Plain) => module!("gemm_plain_f16_bits"),
            (ShaderFile::Gemm, DotLoop::Subgroup) => module!("gemm_subgroups_f16_bits"),
            (ShaderFile::Recurrent, DotLoop::Plain) => module!("recurrent_plain_f16_bits"),
            (ShaderFile::Recurrent, DotLoop::Subgroup) => {
                module!("recurrent_subgroups_f16_bits")
            }
            (ShaderFile::Sequence, DotLoop::Plain) => module!("sequence_plain_f16_bits"),
            (ShaderFile::Sequence, DotLoop::Subgroup) => module!("sequence_subgroups_f16_bits"),
            (ShaderFile::SequenceRegisters, _) => {
                module!("sequence_registers_subgroups_f16_bits")
            }
            (ShaderFile::Wavefront, DotLoop::Plain) => module!("wavefront_plain_f16_bits"),
            (ShaderFile::Wavefront, DotLoop::Subgroup) => module!("wavefront_subgroups_f16_bits"),
            (ShaderFile::Dense, _) => module!("dense_f16_bits"),
            (ShaderFile::Swap, _) => module!("swap"),
            (ShaderFile::Pack, _) => module!("pack"),
        }
    }

    /// The `f16_weights` module of the family for `dot` that widens halves with
    /// `unpack2x16float`.
    fn source_f16(self, dot: DotLoop) -> &'static str {
        match (self, dot) {
            (ShaderFile::Gemm, DotLoop::Plain) => module!("gemm_plain_f16"),
            (ShaderFile::Gemm, DotLoop::Subgroup) => module!("gemm_subgroups_f16"),
            (ShaderFile::Recurrent, DotLoop::Plain) => module!("recurrent_plain_f16"),
            (ShaderFile::Recurrent, DotLoop::Subgroup) => module!("recurrent_subgroups_f16"),
            (ShaderFile::Sequence, DotLoop::Plain) => module!("sequence_plain_f16"),
            (ShaderFile::Sequence, DotLoop::Subgroup) => module!("sequence_subgroups_f16"),
            (ShaderFile::SequenceRegisters, _) => module!("sequence_registers_subgroups_f16"),
            (ShaderFile::Wavefront, DotLoop::Plain) => module!("wavefront_plain_f16"),
            (ShaderFile::Wavefront, DotLoop::Subgroup) => module!("wavefront_subgroups_f16"),
            (ShaderFile::Dense, _) => module!("dense_f16"),
            (ShaderFile::Swap, _) => module!("swap"),
            (ShaderFile::Pack, _) => module!("pack"),
        }
    }
}

/// Every entry point the crate dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    /// The input projection with rows in registers (the software profile's).
    InputProjection,
    /// The input projection with tiles of x in workgroup memory (GPUs').
    InputProjectionTiled,
    /// The per-step kernel of every kind (its `GATES` override).
    Step,
    LstmProject,
    /// A GRU's reset gates before its step, where the reset gate multiplies h before the
    /// recurrent product (ONNX's `linear_before_reset = 0`).
    GruReset,
    Sequence,
    /// The sequence kernel with h in registers (shaders/sequence_registers.wesl): only on
    /// devices with subgroups.
    SequenceRegisters,
    /// A step of every layer of a unidirectional stack.
    WaveStep,
    Linear,
    LastStep,
    Activate,
    /// The first two axes of an array swapped (shaders/swap.wesl).
    SwapBatchTime,
    /// W_hh's rows packed by unit (shaders/pack.wesl).
    PackByUnit,
}

impl Kernel {
    #[cfg(test)]
    pub(crate) const ALL: [Kernel; 13] = [
        Kernel::InputProjection,
        Kernel::InputProjectionTiled,
        Kernel::Step,
        Kernel::LstmProject,
        Kernel::GruReset,
        Kernel::Sequence,
        Kernel::SequenceRegisters,
        Kernel::WaveStep,
        Kernel::Linear,
        Kernel::LastStep,
        Kernel::Activate,
        Kernel::SwapBatchTime,
        Kernel::PackByUnit,
    ];

    pub(crate) fn file(self) -> ShaderFile {
        match self {
            Kernel::InputProjection | Kernel::InputProjectionTiled => ShaderFile::Gemm,
            Kernel::Step | Kernel::LstmProject | Kernel::GruReset => ShaderFile::Recurrent,
            Kernel::Sequence => ShaderFile::Sequence,
            Kernel::SequenceRegisters => ShaderFile::SequenceRegisters,
            Kernel::WaveStep => ShaderFile::Wavefront,
            Kernel::Linear | Kernel::LastStep | Kernel::Activate => ShaderFile::Dense,
            Kernel::SwapBatchTime => ShaderFile::Swap,
            Kernel::PackByUnit => ShaderFile::Pack,
        }
    }

    pub(crate) fn entry_point(self) -> &'static str {
        match self {
            Kernel::InputProjection => "input_projection",
            Kernel::InputProjectionTiled => "input_projection_tiled",
            Kernel::Step => "recurrent_step",
            Kernel::LstmProject => "lstm_project",
            Kernel::GruReset => "gru_reset",
            Kernel::Sequence => "sequence",
            Kernel::SequenceRegisters => "sequence_registers",
            Kernel::WaveStep => "wave_step",
            Kernel::Linear => "linear",
            Kernel::LastStep => "last_step",
            Kernel::Activate => "activate",
            Kernel::SwapBatchTime => "swap_batch_time",
            Kernel::PackByUnit => "pack_by_unit",
        }
    }
}

/// Invocations per workgroup of the input projection (the `GEMM_WORKGROUP` override in
/// gemm.wesl).
pub(crate) const GEMM_WORKGROUP: u32 = 64;
/// Rows of `x` each input-projection invocation computes (the `GEMM_ROWS` override).
pub(crate) const GEMM_ROWS: u32 = 16;
/// Most rows of a block of the shared inner loop (`MAX_DOT_ROWS` in dot.wesl).
#[cfg(test)]
pub(crate) const MAX_DOT_ROWS: u32 = 16;
/// Gate rows each input-projection invocation computes (`COLS` in gemm.wesl).
pub(crate) const GEMM_COLS: u32 = 4;
/// Invocations per workgroup of the wavefront and of `lstm_project` (the `WAVE_WORKGROUP`
/// and `PROJECT_WORKGROUP` overrides); the
/// per-step kernel's width is its `WORKGROUP` override (`gpu::plan::StepShape`).
pub(crate) const STEP_WORKGROUP: u32 = 64;
/// Size of one `Step` slot in WGSL; slots sit `min_uniform_buffer_offset_alignment` apart.
pub(crate) const STEP_SLOT_SIZE: u64 = 16;
/// Invocations per workgroup of the dense kernels (the `DENSE_WORKGROUP` override).
pub(crate) const DENSE_WORKGROUP: u32 = 64;
/// Rows each `linear` invocation computes (the `DENSE_ROWS` override, at most
/// `MAX_DENSE_ROWS` in dense.wesl).
pub(crate) const DENSE_ROWS: u32 = 8;

/// Invocations per workgroup of the swap kernel (the `SWAP_WORKGROUP` override).
pub(crate) const SWAP_WORKGROUP: u32 = 64;
/// Invocations per workgroup of the pack kernel (the `PACK_WORKGROUP` override).
pub(crate) const PACK_WORKGROUP: u32 = 64;

/// Floats of workgroup memory that hold a sequence-kernel block's h (`H_VEC4S` x 4 in
/// sequence.wesl): h_{t-1} and h_t of every sequence of the block.
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

/// Mirrors `struct Layer` in shaders/common.wesl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
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
    /// PyTorch's cell (all zero) or another (`gpu::cell`).
    pub cell: super::cell::CellParams,
}

/// Mirrors `struct Dense` in shaders/dense.wesl.
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

/// Mirrors `struct Swap` in shaders/swap.wesl: `src` is `(d0, d1, width)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SwapParams {
    pub d0: u32,
    pub d1: u32,
    pub width: u32,
    pub _pad: u32,
}

/// Mirrors `struct Pack` in shaders/pack.wesl: `src` is W_hh in rows of `k4` vec4s of
/// `words` u32s each.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct PackParams {
    pub hidden: u32,
    pub gates: u32,
    pub k4: u32,
    pub words: u32,
    pub directions: u32,
    pub dst_offset: u32,
    pub _pad: [u32; 2],
}
