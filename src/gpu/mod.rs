//! The GPU path: a context (adapter, device, kernels), models uploaded to it, and their
//! forward pass.

mod buffers;
mod choice;
mod context;
mod encode;
pub(crate) mod kernels;
mod model;
mod pack;
mod plan;
mod resident;
mod scopes;
mod sequence;
#[cfg(test)]
mod shader_tests;
mod shaders;
mod stream;
#[cfg(test)]
mod translate;
mod wavefront;

pub(crate) use buffers::{read_back, Scopes, Wait};
pub use choice::plan_lines;
pub use context::{AdapterChoice, GpuContext};
pub(crate) use encode::MAX_KEPT_BYTES;
pub use model::{GpuRnn, Strategy};
pub use plan::DeviceProfile;
pub(crate) use resident::ResidentPass;
pub use resident::{GpuInput, GpuOutput};
pub use stream::GpuStream;
