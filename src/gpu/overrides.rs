//! Each kernel family's pipeline-overridable constants, as a pipeline variant holds them and
//! as `PipelineCompilationOptions::constants` takes them.

use super::plan::StepShape;
use super::shaders::{
    DENSE_ROWS, DENSE_WORKGROUP, GEMM_ROWS, GEMM_WORKGROUP, PACK_WORKGROUP, STEP_WORKGROUP,
    SWAP_WORKGROUP,
};

/// A family's pipeline-overridable constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Overrides {
    /// The input projection's columns per block of four that hold weights (`GEMM_COLUMNS`),
    /// and its fixed cut (`GEMM_ROWS`, `GEMM_WORKGROUP`).
    Gemm { columns: u32 },
    /// The sequence kernel's block of sequences and workgroup width, and the layer's kind
    /// (gate count, and whether it projects).
    Sequence {
        rows: u32,
        workgroup: u32,
        gates: u32,
        project: bool,
    },
    /// The wavefront's block of sequences (`BATCH_BLOCK`) and layer kind (`WAVE_GATES`),
    /// and its width (`WAVE_WORKGROUP`).
    Wave { rows: u32, gates: u32 },
    /// The dense kernels' width and `linear`'s rows per invocation (`DENSE_WORKGROUP`,
    /// `DENSE_ROWS`).
    Dense,
    /// The swap kernel's width (`SWAP_WORKGROUP`).
    Swap,
    /// The pack kernel's width (`PACK_WORKGROUP`).
    Pack,
    /// The per-step kernel's cut and the layer's gate count (`UNITS`, `ROWS`, `WORKGROUP`,
    /// `GATES` in recurrent.wesl; `lstm_project` reads `ROWS`), and `RESET_FIRST` for a GRU
    /// whose reset gate comes before the recurrent product.
    Step {
        shape: StepShape,
        gates: u32,
        reset_first: bool,
    },
}

impl Overrides {
    /// As `PipelineCompilationOptions::constants` takes them (names as in the WGSL).
    pub(crate) fn constants(self) -> Vec<(&'static str, f64)> {
        match self {
            Overrides::Gemm { columns } => vec![
                ("GEMM_COLUMNS", f64::from(columns)),
                ("GEMM_ROWS", f64::from(GEMM_ROWS)),
                ("GEMM_WORKGROUP", f64::from(GEMM_WORKGROUP)),
            ],
            Overrides::Sequence {
                rows,
                workgroup,
                gates,
                project,
            } => {
                let mut constants = vec![
                    ("SEQUENCE_ROWS", f64::from(rows)),
                    ("SEQUENCE_WORKGROUP", f64::from(workgroup)),
                    ("SEQUENCE_GATES", f64::from(gates)),
                ];
                // Only where it differs from its default: the register kernel, which never
                // projects, does not declare it.
                if project {
                    constants.push(("SEQUENCE_PROJECT", 1.0));
                }
                constants
            }
            Overrides::Wave { rows, gates } => vec![
                ("BATCH_BLOCK", f64::from(rows)),
                ("WAVE_GATES", f64::from(gates)),
                ("WAVE_WORKGROUP", f64::from(STEP_WORKGROUP)),
            ],
            Overrides::Dense => vec![
                ("DENSE_WORKGROUP", f64::from(DENSE_WORKGROUP)),
                ("DENSE_ROWS", f64::from(DENSE_ROWS)),
            ],
            Overrides::Swap => vec![("SWAP_WORKGROUP", f64::from(SWAP_WORKGROUP))],
            Overrides::Pack => vec![("PACK_WORKGROUP", f64::from(PACK_WORKGROUP))],
            Overrides::Step {
                shape,
                gates,
                reset_first,
            } => {
                let mut constants = vec![
                    ("UNITS", f64::from(shape.units)),
                    ("ROWS", f64::from(shape.rows)),
                    ("WORKGROUP", f64::from(shape.workgroup)),
                    ("GATES", f64::from(gates)),
                    ("PROJECT_WORKGROUP", f64::from(STEP_WORKGROUP)),
                ];
                if reset_first {
                    constants.push(("RESET_FIRST", 1.0));
                }
                constants
            }
        }
    }
}
