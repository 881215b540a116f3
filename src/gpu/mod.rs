//! The GPU path: a context (adapter, device, kernels), models uploaded to it, and their
//! forward pass.

mod buffers;
mod context;
mod encode;
pub(crate) mod kernels;
mod model;
mod pack;
mod resident;
mod sequence;
mod stream;
mod wavefront;

pub(crate) use buffers::{read_back, Scopes, Wait};
pub use context::{AdapterChoice, GpuContext};
pub(crate) use encode::MAX_KEPT_BYTES;
pub use model::{GpuRnn, Strategy};
pub(crate) use resident::ResidentPass;
pub use resident::{GpuInput, GpuOutput};
pub use stream::GpuStream;
