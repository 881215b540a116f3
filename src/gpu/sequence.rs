//! How the sequence kernel (shaders/sequence.wesl) cuts a forward pass for one model and
//! adapter: sequences per workgroup, invocations per workgroup, and timesteps per dispatch.

use super::kernels::{SEQUENCE_H_FLOATS, SEQUENCE_MAX_WORKGROUP, SEQUENCE_M_FLOATS};
pub(crate) use super::plan::{AdapterKind, SequenceShape};
use crate::config::RnnConfig;
use crate::error::Error;

/// Widest `h` (and `c`) the kernel holds: one sequence per workgroup.
pub(crate) const SEQUENCE_MAX_WIDTH: usize = SEQUENCE_H_FLOATS / 2;

/// Timesteps one sequence-kernel dispatch runs at most: a dispatch runs a whole chunk, and a
/// short one stays clear of any GPU watchdog.
pub(crate) const MAX_SEQUENCE_CHUNK: usize = 512;

/// Mesa's llvmpipe (under lavapipe) stops every loop of an invocation, silently, once the
/// loops of that invocation have run 65,535 iterations between them
/// (`LP_MAX_TGSI_LOOP_ITERATIONS`, "shared between every loop in a shader"); loops with a
/// small constant trip count are unrolled and do not count. Work that would loop longer is
/// refused on software adapters ([`GpuContext::check_loop`](super::GpuContext)).
pub(crate) const SOFTWARE_LOOP_LIMIT: usize = 65_535;

/// A sequence dispatch loops over a whole chunk of steps: on software adapters a chunk is cut
/// to stay within half of the limit.
const SOFTWARE_LOOP_BUDGET: usize = SOFTWARE_LOOP_LIMIT / 2;

/// On software adapters, the workgroup grows (fewer units per invocation, fewer loop
/// iterations per step) until a chunk holds this many steps.
const SOFTWARE_MIN_CHUNK: usize = 32;

/// The widths of a layer that the cut depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SequenceLayer {
    /// Units of the cell (hidden_size).
    pub hidden: usize,
    /// Floats of h (proj_size, or hidden_size).
    pub state_width: usize,
    /// LSTM with proj_size.
    pub project: bool,
}

impl SequenceLayer {
    pub(crate) fn of(config: &RnnConfig) -> Self {
        SequenceLayer {
            hidden: config.hidden_size,
            state_width: config.state_width(),
            project: config.proj_size > 0,
        }
    }
}

/// Why a model cannot run on the sequence kernel.
pub(crate) fn sequence_unsupported(config: &RnnConfig) -> Error {
    Error::Unsupported {
        what: format!(
            "Strategy::Sequence with hidden_size={} and state width {}",
            config.hidden_size,
            config.state_width()
        ),
        reason: format!(
            "its workgroup memory holds at most {} units; use Strategy::PerStep or Auto",
            SEQUENCE_MAX_WIDTH
        ),
    }
}

/// Vec4 groups of units each invocation of the register-resident sequence kernel holds
/// (`REGISTER_GROUPS` in shaders/sequence_registers.wesl).
pub(crate) const REGISTER_GROUPS: usize = 8;

/// How one forward pass runs on the sequence kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SequenceCut {
    pub shape: SequenceShape,
    /// Timesteps per dispatch at most.
    pub max_steps: usize,
}

impl SequenceCut {
    /// The cut for `batch` sequences, or `None` when the layer does not fit the kernel: not
    /// even one sequence's h fits in workgroup memory, or (on software adapters) not one
    /// step fits in the loop budget.
    ///
    /// A block of sequences shares each weight load, so blocks are as large as workgroup
    /// memory allows while there are enough of them to keep the adapter busy. On lavapipe a
    /// workgroup of one SIMD vector steps fastest (its barrier costs nothing; a wider one
    /// switches between its vectors at every barrier), but it gives each invocation more
    /// units and so more loop iterations per step: it grows until a chunk holds
    /// `SOFTWARE_MIN_CHUNK` steps. On GPUs each unit gets its own invocation.
    pub(crate) fn new(layer: SequenceLayer, batch: usize, adapter: AdapterKind) -> Option<Self> {
        let fits = |rows: usize| {
            2 * rows * layer.state_width.div_ceil(4) * 4 <= SEQUENCE_H_FLOATS
                && (!layer.project || rows * layer.hidden <= SEQUENCE_M_FLOATS)
        };
        // On a GPU one block of up to 8 sequences per workgroup: every workgroup streams the
        // whole W_hh each step, so fewer, fuller blocks read it fewer times. Software
        // adapters keep a block for each of their threads.
        let parallel = match adapter {
            AdapterKind::Cpu { threads, .. } => threads,
            AdapterKind::Gpu => 1,
        };
        let busy = batch.min(parallel.max(1));
        let rows = [8, 4, 2, 1]
            .into_iter()
            .filter(|&r| r == 1 || (r <= batch.next_power_of_two() && batch.div_ceil(r) >= busy))
            .find(|&r| fits(r))?;
        match adapter {
            AdapterKind::Gpu => Some(SequenceCut {
                shape: SequenceShape {
                    rows: rows as u32,
                    workgroup: (layer.hidden.next_power_of_two() as u32)
                        .clamp(32, SEQUENCE_MAX_WORKGROUP),
                    registers: false,
                    uniform_weights: false,
                },
                max_steps: MAX_SEQUENCE_CHUNK,
            }),
            AdapterKind::Cpu { lanes, .. } => {
                let lanes = lanes.clamp(1, SEQUENCE_MAX_WORKGROUP);
                let cut = |workgroup: u32| {
                    // The software profile: h in registers on a workgroup of one SIMD vector
                    // (shaders/sequence_registers.wesl), without proj_size, for whole vec4s
                    // of units that fit REGISTER_GROUPS per invocation and give every lane
                    // one (below 4 x lanes units, lanes would idle that the workgroup-memory
                    // kernel keeps busy: GRU B=8 H=16 1.1x slower). lavapipe loads workgroup
                    // memory one lane at a time through the stack and keeps every live value
                    // in memory across a barrier; with h in registers a step needs neither
                    // (LSTM B=8 H=128 T=64: 10 against 15 ms without it).
                    let shape = SequenceShape {
                        rows: rows as u32,
                        workgroup,
                        registers: workgroup == lanes
                            && !layer.project
                            && layer.hidden.is_multiple_of(4)
                            && (4 * lanes as usize..=4 * REGISTER_GROUPS * lanes as usize)
                                .contains(&layer.hidden),
                        uniform_weights: false,
                    };
                    let (fixed, per_step) = loop_iterations(layer, shape);
                    SequenceCut {
                        shape,
                        max_steps: (SOFTWARE_LOOP_BUDGET.saturating_sub(fixed) / per_step)
                            .min(MAX_SEQUENCE_CHUNK),
                    }
                };
                let widths = std::iter::successors(Some(lanes), |w| Some(w * 2))
                    .take_while(|&w| w <= SOFTWARE_MAX_WORKGROUP.max(lanes));
                let mut best = None;
                for workgroup in widths {
                    let c = cut(workgroup);
                    if c.max_steps >= SOFTWARE_MIN_CHUNK {
                        return Some(c);
                    }
                    best = Some(c);
                }
                best.filter(|c| c.max_steps > 0)
            }
        }
    }
}

impl SequenceCut {
    /// This cut with its chunks shortened to fit a software adapter's loop budget, or `None`
    /// where not one step fits.
    pub(crate) fn within_loop_budget(self, layer: SequenceLayer) -> Option<SequenceCut> {
        let (fixed, per_step) = loop_iterations(layer, self.shape);
        let max_steps = (SOFTWARE_LOOP_BUDGET.saturating_sub(fixed) / per_step).min(self.max_steps);
        (max_steps > 0).then_some(SequenceCut { max_steps, ..self })
    }
}

/// The widest workgroup the cut gives a software adapter.
const SOFTWARE_MAX_WORKGROUP: u32 = 64;

/// Loop iterations one invocation of the sequence kernel cut as `shape` runs (shaders/
/// sequence.wesl, or sequence_registers.wesl where `shape.registers`; counted for the former
/// on a device without subgroups, whose count is the smaller), counting every loop (as
/// llvmpipe's limit does): `(per dispatch, per step)`. An upper bound: the subgroup inner loop
/// is counted for subgroups of 4, the smallest there are.
fn loop_iterations(layer: SequenceLayer, shape: SequenceShape) -> (usize, usize) {
    let (rows, workgroup) = (shape.rows as usize, shape.workgroup as usize);
    let units = layer.hidden.div_ceil(workgroup);
    let share = layer.state_width.div_ceil(workgroup);
    let n4 = layer.state_width.div_ceil(4);
    let dot = n4 + n4.div_ceil(4);
    if shape.registers {
        // Per step: the groups, four units each, then copying h_t over h_{t-1}. Per
        // dispatch: loading h (and c) and each group's four biases, and storing h (and c).
        let groups = n4.div_ceil(workgroup);
        let plain = loop_iterations(
            layer,
            SequenceShape {
                registers: false,
                ..shape
            },
        );
        let registers = (2 * groups + 1 + 4 * groups, 1 + groups * (2 + 4 * dot));
        return (plain.0.max(registers.0), plain.1.max(registers.1));
    }
    let mut per_step = 1 + units * (dot + 1);
    if layer.project {
        per_step += 1 + share * (1 + rows * (layer.hidden + 1));
    }
    // load_state and store_state.
    let fixed = 2 * rows * (share + 1) + 1;
    (fixed, per_step)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAVAPIPE: AdapterKind = AdapterKind::Cpu {
        threads: 2,
        lanes: 8,
    };

    fn layer(hidden: usize) -> SequenceLayer {
        SequenceLayer {
            hidden,
            state_width: hidden,
            project: false,
        }
    }

    #[test]
    fn blocks_grow_with_the_batch_while_every_thread_has_one() {
        let rows = |batch: usize, adapter| {
            SequenceCut::new(layer(32), batch, adapter)
                .unwrap()
                .shape
                .rows
        };
        // Two threads: a block each as soon as the batch allows, then larger blocks.
        assert_eq!(rows(1, LAVAPIPE), 1);
        assert_eq!(rows(2, LAVAPIPE), 1);
        assert_eq!(rows(3, LAVAPIPE), 2);
        assert_eq!(rows(8, LAVAPIPE), 4);
        assert_eq!(rows(9, LAVAPIPE), 8);
        assert_eq!(rows(64, LAVAPIPE), 8);
        // A GPU takes blocks of up to 8 sequences: each workgroup streams W_hh every step.
        assert_eq!(rows(1, AdapterKind::Gpu), 1);
        assert_eq!(rows(3, AdapterKind::Gpu), 4);
        assert_eq!(rows(8, AdapterKind::Gpu), 8);
        assert_eq!(rows(64, AdapterKind::Gpu), 8);
    }

    #[test]
    fn blocks_shrink_to_fit_workgroup_memory() {
        let cut = |layer, batch| SequenceCut::new(layer, batch, AdapterKind::Gpu);
        let rows = |layer, batch| cut(layer, batch).unwrap().shape.rows;
        assert_eq!(rows(layer(128), 1000), 8);
        assert_eq!(rows(layer(129), 1000), 4);
        assert_eq!(rows(layer(1024), 1000), 1);
        assert_eq!(cut(layer(1025), 1), None);
        let projected = SequenceLayer {
            hidden: 512,
            state_width: 64,
            project: true,
        };
        // h fits 8 rows, o * tanh(c) only 2.
        assert_eq!(rows(projected, 1000), 2);
    }

    #[test]
    fn software_chunks_stay_within_the_loop_budget() {
        for hidden in [1, 7, 8, 33, 64, 128, 256, 512, 1000, 1024] {
            for batch in [1, 3, 8, 64] {
                for project in [false, true] {
                    let layer = SequenceLayer {
                        hidden,
                        state_width: if project { hidden.div_ceil(2) } else { hidden },
                        project,
                    };
                    let Some(cut) = SequenceCut::new(layer, batch, LAVAPIPE) else {
                        panic!("{layer:?} B={batch}: no cut");
                    };
                    let (fixed, per_step) = loop_iterations(layer, cut.shape);
                    let what = format!("{layer:?} B={batch}: {cut:?}");
                    assert!(cut.max_steps >= 1, "{what}");
                    assert!(
                        fixed + cut.max_steps * per_step <= SOFTWARE_LOOP_BUDGET,
                        "{what}"
                    );
                    assert!(cut.shape.workgroup % 8 == 0, "{what}");
                }
            }
        }
        // Small layers keep one SIMD vector per workgroup and long chunks.
        let small = SequenceCut::new(layer(64), 8, LAVAPIPE).unwrap();
        assert_eq!(small.shape.workgroup, 8);
        assert!(small.max_steps >= SOFTWARE_MIN_CHUNK);
        // Wide ones take wider workgroups, and still several steps per dispatch.
        let wide = SequenceCut::new(layer(1024), 1, LAVAPIPE).unwrap();
        assert_eq!(wide.shape.workgroup, SOFTWARE_MAX_WORKGROUP);
        assert!(wide.max_steps >= 4, "{wide:?}");
    }

    #[test]
    fn h_stays_in_registers_only_for_one_simd_vector_of_whole_vec4s() {
        let registers = |layer, batch, adapter| {
            SequenceCut::new(layer, batch, adapter)
                .unwrap()
                .shape
                .registers
        };
        for hidden in [32, 64, 128] {
            assert!(registers(layer(hidden), 8, LAVAPIPE), "H={hidden}");
        }
        // Fewer groups of units than lanes.
        assert!(!registers(layer(16), 8, LAVAPIPE));
        assert!(!registers(layer(28), 8, LAVAPIPE));
        // H=256 would fit 8 groups of 4 units on each of 8 lanes, but a chunk of 32 steps
        // takes a wider workgroup; wider than 256 never fits.
        assert!(!registers(layer(256), 8, LAVAPIPE));
        assert!(!registers(layer(260), 8, LAVAPIPE));
        // Units that do not fill whole vec4s.
        assert!(!registers(layer(30), 8, LAVAPIPE));
        // proj_size needs every unit's o * tanh(c) in workgroup memory.
        let projected = SequenceLayer {
            hidden: 64,
            state_width: 32,
            project: true,
        };
        assert!(!registers(projected, 8, LAVAPIPE));
        // Workgroups wider than a SIMD vector, and GPUs, share h through workgroup memory.
        let wide = SequenceCut::new(layer(1024), 1, LAVAPIPE).unwrap();
        assert!(wide.shape.workgroup > 8 && !wide.shape.registers);
        assert!(!registers(layer(64), 8, AdapterKind::Gpu));
    }
}
