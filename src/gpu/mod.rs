//! The GPU path: a context (adapter, device, kernels), models uploaded to it, and their
//! forward pass.
//!
//! Where things are, from the bottom up:
//! - `plan` and `choice`: pure functions of (configuration, batch, device profile) that pick
//!   the kernels and their cut; `bench --plan` prints them.
//! - `shaders` (the WGSL modules build.rs compiles from the WESL files under `shaders/`, and
//!   the sizes shared with them) and `kernels` (layouts and the one pipeline cache);
//!   `shader_tests` and `translate` check them with naga.
//! - `context` (adapter, device, kernels), `health` (errors outside our calls), `buffers`,
//!   `scopes`, `slots` (timestep indices).
//! - `layers` (a model's weights on the device) and `device_model` (what a model holds and
//!   how it plans a pass); `pass` (the sizes of one pass).
//! - One module per strategy with its pipelines and dispatches: `per_step`, `sequence`,
//!   `wavefront`; `workspace` builds a pass's buffers and records it through them.
//! - The public types: `model` ([`GpuRnn`]), `host_pass`, `resident` (with `resident_pass`,
//!   and `swap` for `batch_first` data), `stream`.

mod buffers;
pub(crate) mod cell;
mod choice;
mod context;
mod device_model;
mod health;
mod host_pass;
pub(crate) mod kernels;
mod layers;
mod model;
mod overrides;
mod pack;
mod pass;
mod per_step;
mod plan;
mod repack;
mod resident;
mod resident_pass;
#[cfg(test)]
pub(crate) mod resident_tests;
mod scopes;
mod sequence;
#[cfg(test)]
mod shader_tests;
mod shaders;
mod slots;
mod stream;
mod swap;
#[cfg(test)]
mod translate;
mod wavefront;
mod workspace;

pub(crate) use buffers::{read_back, Wait};
pub use choice::plan_lines;
pub use context::{AdapterChoice, GpuContext};
pub(crate) use host_pass::MAX_KEPT_BYTES;
pub(crate) use layers::check_range;
pub use model::{GpuRnn, Strategy};
pub use plan::DeviceProfile;
pub use resident::{GpuInput, GpuOutput, GpuState};
pub(crate) use resident_pass::ResidentPass;
pub(crate) use scopes::Scopes;
pub use stream::GpuStream;
