//! How a layer's recurrence is cut into kernels, workgroups and bytes: a pure function of the
//! model's configuration, the batch and a [`DeviceProfile`], so it can be tested and printed
//! (`cargo run --example bench -- --plan gpu`) on a machine without a GPU.

use crate::config::RnnConfig;

/// Most sequences one per-step workgroup computes (`MAX_ROWS` in recurrent.wesl).
pub(crate) const MAX_ROWS: u32 = 8;
/// Most (unit, sequence) pairs one per-step workgroup computes (`MAX_PAIRS` in
/// recurrent.wesl): the accumulators every invocation holds, one vec4 each.
pub(crate) const MAX_PAIRS: u32 = 16;
/// Most invocations of a per-step workgroup: the subgroup reduction keeps one vec4 per pair
/// and subgroup in `PARTIALS` (512) vec4s of workgroup memory, which holds 16 pairs for up to
/// 32 subgroups, so 128 invocations in subgroups of at least 4.
pub(crate) const MAX_STEP_WORKGROUP: u32 = 128;
/// Fewest invocations of a per-step workgroup: every pair's sum needs an invocation.
const MIN_STEP_WORKGROUP: u32 = 32;
/// Workgroups a wide layer's step should launch at least: about two per compute unit of a
/// large GPU (an H200 has 132), so that each has several warps' loads in flight. A guess from
/// the design, to be measured on a lent GPU: more units per workgroup amortize the loads of
/// h_{t-1} and the reduction, fewer spread the step wider.
const TARGET_STEP_WORKGROUPS: usize = 256;

/// What the cuts depend on besides the model: the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AdapterKind {
    /// A software adapter (lavapipe) that runs `threads` workgroups at once, each on SIMD
    /// vectors of `lanes` invocations.
    Cpu { threads: usize, lanes: u32 },
    /// A GPU.
    Gpu,
}

impl AdapterKind {
    /// Software adapters run one workgroup per CPU thread, on SIMD as wide as their subgroups.
    pub(crate) fn of(info: &wgpu::AdapterInfo) -> Self {
        match info.device_type {
            wgpu::DeviceType::Cpu => AdapterKind::Cpu {
                threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
                lanes: if info.subgroup_min_size == info.subgroup_max_size {
                    info.subgroup_max_size
                } else {
                    8
                },
            },
            _ => AdapterKind::Gpu,
        }
    }
}

/// What the plan needs to know about a device: [`DeviceProfile::GENERIC_GPU`] to plan for a
/// GPU on any machine, or [`GpuContext::profile`](super::GpuContext::profile) for a context's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceProfile {
    pub(crate) adapter: AdapterKind,
    /// Whether the kernels use subgroup operations ([`subgroups_usable`]): the per-step
    /// kernel then reduces with `subgroupAdd` rather than a tree in workgroup memory.
    pub(crate) subgroups: bool,
    /// Whether the adapter reports one subgroup size (min = max), which the register
    /// sequence kernel needs.
    pub(crate) fixed_subgroup_size: bool,
    /// Whether the device ends an invocation's loops silently after a budget of iterations
    /// (llvmpipe; `gpu::sequence::SOFTWARE_LOOP_LIMIT`): the real adapter's, kept when a
    /// context plans as for a GPU (`GpuContext::with_gpu_plan`).
    pub(crate) loop_limit: bool,
}

impl DeviceProfile {
    /// A GPU with subgroups, as the kernels are built for (NVIDIA, AMD, Apple, Intel through
    /// Vulkan, Metal or DX12).
    pub const GENERIC_GPU: DeviceProfile = DeviceProfile {
        adapter: AdapterKind::Gpu,
        subgroups: true,
        fixed_subgroup_size: false,
        loop_limit: false,
    };

    /// The profile of a device with `features`, created from the adapter `info` describes.
    pub(crate) fn new(features: wgpu::Features, info: &wgpu::AdapterInfo) -> DeviceProfile {
        DeviceProfile {
            adapter: AdapterKind::of(info),
            subgroups: subgroups_usable(features, info),
            fixed_subgroup_size: info.subgroup_min_size == info.subgroup_max_size,
            loop_limit: info.device_type == wgpu::DeviceType::Cpu,
        }
    }

    /// Lavapipe on two threads of 8 lanes, for tests of the software profile.
    #[cfg(test)]
    pub(crate) const SOFTWARE: DeviceProfile = DeviceProfile {
        adapter: AdapterKind::Cpu {
            threads: 2,
            lanes: 8,
        },
        subgroups: true,
        fixed_subgroup_size: true,
        loop_limit: true,
    };

    /// Whether the input projection stages tiles of x in workgroup memory (shaders/gemm.wesl,
    /// `input_projection_tiled`): on GPUs. Software adapters keep rows in registers, since
    /// they run workgroups with barriers as coroutines.
    pub(crate) fn tiles_projection(&self) -> bool {
        !self.is_software()
    }

    /// Whether it is a software adapter (lavapipe, llvmpipe, WARP).
    pub fn is_software(&self) -> bool {
        matches!(self.adapter, AdapterKind::Cpu { .. })
    }
}

/// How the recurrence is dispatched. Both give the same results; they differ in speed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Chosen per model and device: [`Strategy::Sequence`] where it fits and wins, else
    /// [`Strategy::PerStep`], or on GPUs [`Strategy::Wavefront`] for a stack it can run.
    #[default]
    Auto,
    /// One fused dispatch per timestep (both directions at once): each workgroup owns a few
    /// hidden units with all their gates for a block of up to 8 sequences, and its
    /// invocations split the recurrent matrix-vector product between them. Spreads a step
    /// over the whole GPU, best for wide layers.
    PerStep,
    /// One workgroup per block of sequences and direction runs a whole chunk of timesteps in
    /// one dispatch, with the state in workgroup memory: no per-step dispatch cost, best for
    /// narrow layers.
    /// Needs `hidden_size` and the state width <= 1024.
    Sequence,
    /// The per-step kernel pipelined across layers: dispatch w runs step w - l of every
    /// layer l at once, so L layers over T steps take T + L - 1 dependent dispatches instead
    /// of L * T, and layers from the second on compute their input projection inside the step.
    /// For stacks of unidirectional layers without `proj_size`. The first forward copies
    /// every layer's `weight_hh` and the `weight_ih` of every layer but the first into one
    /// buffer that the model then keeps: as much device memory again as the model's own
    /// copies of those matrices.
    Wavefront,
}

/// Whether the kernels may use subgroup operations on a device with `features` from the
/// adapter `info` describes: it has `Features::SUBGROUP`, in subgroups of at least 4
/// invocations (the per-step kernel's subgroup reduction keeps a partial sum per subgroup in
/// workgroup memory sized for that: [`MAX_STEP_WORKGROUP`]).
pub(crate) fn subgroups_usable(features: wgpu::Features, info: &wgpu::AdapterInfo) -> bool {
    features.contains(wgpu::Features::SUBGROUP) && info.subgroup_min_size >= 4
}

/// How the per-step kernel (shaders/recurrent.wesl) is cut for one layer and batch: its
/// pipeline-overridable constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct StepShape {
    /// Hidden units per workgroup (`UNITS`).
    pub units: u32,
    /// Sequences per workgroup (`ROWS`).
    pub rows: u32,
    /// Invocations per workgroup, splitting K between them (`WORKGROUP`).
    pub workgroup: u32,
}

impl StepShape {
    /// The cut for `config`'s layers over `batch` sequences on `profile`'s device: blocks of
    /// up to [`MAX_ROWS`] sequences (each weight load then serves the block), a workgroup
    /// about as wide as K in vec4s (so that no invocation idles through the loop), and the
    /// most units per workgroup that still launch [`TARGET_STEP_WORKGROUPS`] workgroups a
    /// step (one unit where even that does not).
    ///
    /// The software profile (lavapipe, llvmpipe, WARP), the only one: a workgroup there is a
    /// loop on one CPU thread whose start and barriers cost more than its loads, so it takes
    /// the narrowest workgroup and the most units, for the fewest workgroups a step. Measured
    /// on lavapipe, LSTM T=64 (ms per forward, GPU cut against software cut): B=1 H=256 54
    /// against 20, B=1 H=1024 257 against 270, B=64 H=512 2,796 against 1,934. It serves the
    /// test suite's run time; lavapipe's speed is not what the kernel is built for.
    pub(crate) fn new(config: &RnnConfig, batch: usize, profile: DeviceProfile) -> StepShape {
        let rows = (batch.max(1).next_power_of_two() as u32).min(MAX_ROWS);
        if profile.is_software() {
            return StepShape {
                units: MAX_PAIRS / rows,
                rows,
                workgroup: MIN_STEP_WORKGROUP,
            };
        }
        let k4 = config.state_width().div_ceil(4).max(1);
        let workgroup =
            (k4.next_power_of_two() as u32).clamp(MIN_STEP_WORKGROUP, MAX_STEP_WORKGROUP);
        let blocks = batch.max(1).div_ceil(rows as usize) * config.num_directions();
        let launched = |units: u32| config.hidden_size.div_ceil(units as usize) * blocks;
        let units = [8, 4, 2]
            .into_iter()
            .find(|&u| u * rows <= MAX_PAIRS && launched(u) >= TARGET_STEP_WORKGROUPS)
            .unwrap_or(1);
        StepShape {
            units,
            rows,
            workgroup,
        }
    }

    /// Workgroups of one step's dispatch: (units, sequence blocks, directions).
    pub(crate) fn grid(self, config: &RnnConfig, batch: usize) -> [u32; 3] {
        [
            (config.hidden_size as u32).div_ceil(self.units),
            (batch as u32).div_ceil(self.rows),
            config.num_directions() as u32,
        ]
    }
}

/// The pipeline variant: sequences per workgroup (the WGSL `SEQUENCE_ROWS`, one module each)
/// and invocations per workgroup (`SEQUENCE_WORKGROUP`, a pipeline override).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SequenceShape {
    pub rows: u32,
    pub workgroup: u32,
    /// Whether the workgroup keeps h in registers (shaders/sequence_registers.wesl): the
    /// software profile's, part of the cut in gpu::sequence.
    pub registers: bool,
    /// Whether it reads W_hh from four uniform buffers (shaders/weights_uniform.wesl): the
    /// software profile's, where each part fits one binding (`gpu::choice::sequence_cut`).
    pub uniform_weights: bool,
}

impl SequenceShape {
    /// Workgroups of one dispatch: a block of sequences and a direction each.
    pub(crate) fn grid(self, config: &RnnConfig, batch: usize) -> [u32; 3] {
        let d = config.num_directions() as u32;
        [1, (batch as u32).div_ceil(self.rows), d]
    }
}

/// Bytes of `W_hh` (and `W_hr`) a step of every direction of one layer reads, as the
/// per-step kernel lays them out: G rows of ceil(H_out / 4) vec4s per unit, no padding gate,
/// each weight stored as `weights`.
pub(crate) fn step_weight_bytes(config: &RnnConfig, weights: crate::Precision) -> u64 {
    let d = config.num_directions();
    let bytes = weights.bytes_per_weight();
    let rows = config.gate_rows() * config.state_width().div_ceil(4) * 4 * bytes;
    let projection = config.hidden_size * config.proj_size * bytes;
    (d * (rows + projection)) as u64
}

/// Why `config` cannot run as a wavefront, or `None` where it can (cheap: `Auto` asks on
/// every call).
pub(crate) fn wavefront_reason(config: &RnnConfig) -> Option<&'static str> {
    if config.num_layers < 2 {
        Some("a single layer has no layer above it to pipeline; use Strategy::PerStep or Auto")
    } else if config.bidirectional {
        Some(
            "the layer above needs a bidirectional layer's reverse direction at t = 0 first, \
             which that direction computes last; use Strategy::PerStep or Auto",
        )
    } else if config.proj_size > 0 {
        Some(
            "an LSTM with proj_size needs a second dispatch per step for the projection; use \
             Strategy::PerStep or Auto",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Kind;

    #[test]
    fn a_wide_layer_at_batch_one_fills_a_large_gpu() {
        for kind in [Kind::Gru, Kind::Lstm] {
            let config = RnnConfig::new(kind, 64, 1024);
            let shape = StepShape::new(&config, 1, DeviceProfile::GENERIC_GPU);
            let [x, y, z] = shape.grid(&config, 1);
            assert!(x * y * z >= 128, "{kind:?}: {shape:?}");
            assert_eq!(shape.rows, 1);
            assert_eq!(shape.workgroup, MAX_STEP_WORKGROUP);
        }
    }

    #[test]
    fn weights_are_read_without_a_padding_gate() {
        let h = 1024u64;
        let gru = RnnConfig::new(Kind::Gru, 64, 1024);
        let lstm = RnnConfig::new(Kind::Lstm, 64, 1024);
        use crate::Precision::{F16, F32};
        assert_eq!(step_weight_bytes(&gru, F32), 12 * h * h);
        assert_eq!(step_weight_bytes(&lstm, F32), 16 * h * h);
        assert_eq!(step_weight_bytes(&gru, F16), 6 * h * h, "halves");
        assert_eq!(step_weight_bytes(&lstm, F16), 8 * h * h);
        // K rounds up to whole vec4s: H = 21 reads 6 vec4s per row.
        let odd = RnnConfig::new(Kind::Gru, 3, 21);
        assert_eq!(step_weight_bytes(&odd, F32), 3 * 21 * 6 * 16);
        let projected = RnnConfig::new(Kind::Lstm, 3, 8).proj_size(4);
        assert_eq!(
            step_weight_bytes(&projected, F16),
            (4 * 8 * 4 + 8 * 4) * 2,
            "W_hh rows over H_out = 4, then W_hr"
        );
    }

    #[test]
    fn blocks_hold_up_to_eight_sequences_and_the_accumulators_stay_bounded() {
        for hidden in [1, 4, 20, 64, 128, 256, 512, 1024, 4096] {
            for batch in [1, 2, 3, 8, 9, 64, 1000] {
                let config = RnnConfig::new(Kind::Lstm, 8, hidden).bidirectional(true);
                for profile in [DeviceProfile::GENERIC_GPU, DeviceProfile::SOFTWARE] {
                    let s = StepShape::new(&config, batch, profile);
                    assert!(s.rows <= MAX_ROWS && s.rows as usize <= batch.next_power_of_two());
                    assert!(s.units * s.rows <= MAX_PAIRS, "{s:?}");
                    assert!(s.workgroup.is_power_of_two() && s.units * s.rows <= s.workgroup);
                    assert!((MIN_STEP_WORKGROUP..=MAX_STEP_WORKGROUP).contains(&s.workgroup));
                    let [x, y, _] = s.grid(&config, batch);
                    assert!(x * s.units >= hidden as u32 && y * s.rows >= batch as u32);
                }
            }
        }
    }
}
