//! The GPU context: adapter, device, queue and compiled kernels, created once and shared.

use std::sync::Arc;

use super::health::Health;
use super::kernels::{Dispatch, DotLoop, Kernels, Variant};
use super::kernels::{SEQUENCE_MAX_WORKGROUP, SEQUENCE_WORKGROUP_STORAGE};
use super::plan::DeviceProfile;
use crate::error::{Error, Result};

/// A device and queue with the crate's kernels compiled for them. Cheap to clone (shared).
///
/// Create it from the default adapter ([`GpuContext::new`]), from the software adapter
/// ([`GpuContext::software`]), or from a device your application already owns
/// ([`GpuContext::from_device`]).
#[derive(Clone)]
pub struct GpuContext {
    pub(crate) inner: Arc<ContextInner>,
    /// Plan passes as for a GPU whatever the adapter ([`GpuContext::with_gpu_plan`]).
    gpu_plan: bool,
}

pub(crate) struct ContextInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// What the plan depends on, found once (`DeviceProfile::new`).
    pub profile: DeviceProfile,
    pub kernels: Kernels,
    pub health: Arc<Health>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter_name())
            .finish()
    }
}

/// Which adapter [`GpuContext::with_adapter`] picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AdapterChoice {
    /// The high-performance adapter wgpu prefers (a discrete GPU when present).
    #[default]
    Default,
    /// A CPU-backed software adapter (Mesa lavapipe/llvmpipe, WARP): for tests and CI.
    Software,
}

impl GpuContext {
    /// A context on the default (high-performance) adapter. Blocks until ready (native only;
    /// in a browser, await [`GpuContext::with_adapter`]).
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter exists, [`Error::RequestDevice`] when it refuses a
    /// device, [`Error::Gpu`] when the kernels do not compile on it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Self> {
        pollster::block_on(Self::with_adapter(AdapterChoice::Default))
    }

    /// A context on a software (CPU) adapter, such as Mesa's lavapipe. Blocks until ready
    /// (native only).
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn software() -> Result<Self> {
        pollster::block_on(Self::with_adapter(AdapterChoice::Software))
    }

    /// A context on the chosen adapter.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
    pub async fn with_adapter(choice: AdapterChoice) -> Result<Self> {
        // Vulkan/Metal/DX12 first: initialising the GL backend probes EGL and display servers
        // (and prints driver noise on headless Linux); GL is the fallback. WGPU_BACKEND wins.
        let from_env = std::env::var_os("WGPU_BACKEND").is_some();
        let mut last_error = String::from("no adapter");
        for backends in [wgpu::Backends::PRIMARY, wgpu::Backends::all()] {
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
            if !from_env {
                descriptor.backends = backends;
            }
            let instance = wgpu::Instance::new(descriptor);
            match Self::pick_adapter(&instance, choice).await {
                Ok(adapter) => return Self::open(adapter).await,
                Err(e) => last_error = e,
            }
            if from_env {
                break;
            }
        }
        let hint = if cfg!(target_arch = "wasm32") {
            "the browser offers no WebGPU adapter: use a browser with WebGPU enabled (Chromium on \
             Linux without a GPU: --enable-unsafe-webgpu), or the CPU path"
        } else {
            "install a Vulkan/Metal/DX12 driver (on Linux without a GPU: the Mesa package \
             mesa-vulkan-drivers) or use the CPU path"
        };
        Err(Error::NoAdapter {
            reason: last_error,
            hint,
        })
    }

    async fn pick_adapter(
        instance: &wgpu::Instance,
        choice: AdapterChoice,
    ) -> Result<wgpu::Adapter, String> {
        match choice {
            AdapterChoice::Default => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string()),
            AdapterChoice::Software => {
                let mut adapters: Vec<wgpu::Adapter> = instance
                    .enumerate_adapters(wgpu::Backends::all())
                    .await
                    .into_iter()
                    .filter(|a| a.get_info().device_type == wgpu::DeviceType::Cpu)
                    .collect();
                // Vulkan's lavapipe before GL's llvmpipe: it has compute limits the GL path lacks.
                adapters.sort_by_key(|a| a.get_info().backend != wgpu::Backend::Vulkan);
                adapters.into_iter().next().ok_or_else(|| {
                    "no software (CPU) adapter among the adapters wgpu enumerated".to_string()
                })
            }
        }
    }

    async fn open(adapter: wgpu::Adapter) -> Result<Self> {
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-rnn"),
                // Subgroups where the adapter has them: the inner loops share loads with them.
                required_features: adapter.features() & wgpu::Features::SUBGROUP,
                // The adapter's own limits: larger storage bindings mean longer chunks.
                required_limits: adapter.limits(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice {
                reason: e.to_string(),
            })?;
        let health = Arc::new(Health::default());
        health.watch(&device);
        let half_builtin = adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32);
        Self::build(device, queue, adapter.get_info(), half_builtin, health).await
    }

    /// A context on a device and queue your application already owns (for example the one it
    /// renders with). The crate only creates its own buffers and pipelines on it.
    /// Request `wgpu::Features::SUBGROUP` on that device where the adapter has it: the kernels
    /// then reduce and share loads through subgroup operations
    /// ([`GpuContext::uses_subgroups`]).
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the device allows fewer than 8 storage buffers per stage
    /// or has no compute support, [`Error::Gpu`] when the kernels do not compile on it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        pollster::block_on(Self::from_device_async(device, queue))
    }

    /// As [`GpuContext::from_device`], without blocking (the form for a browser).
    ///
    /// # Errors
    /// As [`GpuContext::from_device`].
    pub async fn from_device_async(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        // The device knows its adapter: without its info a software adapter would count as a
        // GPU, skip the software loop-limit guard and return silently wrong results.
        // Nor does it say whether the adapter converts halves natively: f16 weights are then
        // widened with integer operations, which every device runs (shaders/half.wesl).
        let info = device.adapter_info();
        Self::build(device, queue, info, false, Arc::default()).await
    }

    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        half_builtin: bool,
        health: Arc<Health>,
    ) -> Result<Self> {
        let limits = device.limits();
        let checks: [(&str, &'static str, u64, u64); 4] = [
            (
                "the recurrent kernel",
                "max_storage_buffers_per_shader_stage",
                limits.max_storage_buffers_per_shader_stage as u64,
                8,
            ),
            (
                "the input-projection kernel",
                "max_compute_invocations_per_workgroup",
                limits.max_compute_invocations_per_workgroup as u64,
                256,
            ),
            (
                "the sequence kernel",
                "max_compute_workgroup_storage_size",
                limits.max_compute_workgroup_storage_size as u64,
                SEQUENCE_WORKGROUP_STORAGE,
            ),
            (
                "the sequence kernel",
                "max_compute_workgroup_size_x",
                limits.max_compute_workgroup_size_x as u64,
                SEQUENCE_MAX_WORKGROUP as u64,
            ),
        ];
        for (what, limit_name, limit, needed) in checks {
            if limit < needed {
                return Err(Error::DeviceLimit {
                    what: what.to_string(),
                    limit_name,
                    limit,
                    needed,
                    hint: "request a device with the adapter's own limits (`adapter.limits()`), or use another adapter".into(),
                });
            }
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let dot = DotLoop::for_device(device.features(), &info);
        let kernels = Kernels::new(&device, dot, half_builtin, |file| kernel_source(file, dot));
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu {
                operation: "compiling the kernels",
                message: e.to_string(),
            });
        }
        let profile = DeviceProfile::new(device.features(), &info);
        Ok(GpuContext {
            inner: Arc::new(ContextInner {
                device,
                queue,
                profile,
                info,
                kernels,
                health,
            }),
            gpu_plan: false,
        })
    }

    /// Whether the kernels use subgroup operations: true when the device has
    /// `wgpu::Features::SUBGROUP` in subgroups of at least 4 invocations (contexts the crate
    /// creates request it where the adapter has it; for [`GpuContext::from_device`], request
    /// it on your device to get the faster kernels).
    pub fn uses_subgroups(&self) -> bool {
        self.inner.profile.subgroups
    }

    /// What the plan of a pass depends on, found at creation: pass it to
    /// [`plan_lines`](super::plan_lines) to see how this device runs a model.
    pub fn profile(&self) -> DeviceProfile {
        let mut profile = self.inner.profile;
        if self.gpu_plan {
            profile.adapter = super::plan::AdapterKind::Gpu;
        }
        profile
    }

    /// The same device, planning every pass as for a GPU: the tiled input projection, the
    /// per-step cuts for a large GPU, and no software-profile kernel. On a software adapter
    /// this runs the kernels a GPU would get (the tests check them against the CPU reference
    /// that way); the software adapter's loop-limit guard still applies.
    pub fn with_gpu_plan(&self) -> GpuContext {
        GpuContext {
            inner: Arc::clone(&self.inner),
            gpu_plan: true,
        }
    }

    /// Whether the adapter is a CPU one (lavapipe, llvmpipe, WARP), whose kernels read from
    /// (the software profile: its loop-limit guard and its cuts, `gpu::plan`).
    pub(crate) fn on_cpu_adapter(&self) -> bool {
        self.inner.profile.is_software()
    }

    /// `v`'s pipeline from the context's cache (compiled now on first use), over `grid`.
    pub(crate) fn dispatch(&self, v: Variant, grid: [u32; 3]) -> Result<Dispatch> {
        Dispatch::new(&self.inner.kernels, &self.inner.device, v, grid)
    }

    /// The device the context runs on.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The queue the context submits to.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// The adapter the device was created from (always `Some`: for
    /// [`GpuContext::from_device`] as the device reports it).
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        Some(&self.inner.info)
    }

    /// A one-line description of the adapter: name, backend and driver.
    pub fn adapter_name(&self) -> String {
        let i = &self.inner.info;
        format!(
            "{} ({:?}, {} {})",
            i.name, i.backend, i.driver, i.driver_info
        )
    }
}

#[cfg(test)]
thread_local! {
    /// Set by a unit test to append a syntax error to every kernel source.
    static BREAK_SHADERS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn kernel_source(file: super::kernels::ShaderFile, dot: DotLoop) -> String {
    #[cfg(test)]
    if BREAK_SHADERS.with(std::cell::Cell::get) {
        return format!(
            "{}\nfn broken( {{",
            file.source(dot, false, crate::Precision::F32, false)
        );
    }
    file.source(dot, false, crate::Precision::F32, false)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shader that does not compile is a typed error at context creation, not a panic.
    #[test]
    fn a_shader_that_fails_to_compile_is_an_error() {
        BREAK_SHADERS.with(|b| b.set(true));
        let result = GpuContext::software();
        BREAK_SHADERS.with(|b| b.set(false));
        match result {
            Err(Error::Gpu { operation, .. }) => assert_eq!(operation, "compiling the kernels"),
            Err(Error::NoAdapter { .. }) if std::env::var_os("CI").is_none() => {
                eprintln!("!!! SKIPPING GPU TEST: no software adapter !!!")
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
}
