//! The GPU context: adapter, device, queue and compiled kernels, created once and shared.

use std::sync::{Arc, Mutex, OnceLock};

use super::kernels::{DotLoop, Kernels};
use super::plan::{AdapterKind, DeviceProfile};
use super::sequence::{SEQUENCE_MAX_WORKGROUP, SEQUENCE_WORKGROUP_STORAGE};
use crate::error::{Error, Result};

/// A device and queue with the crate's kernels compiled for them. Cheap to clone (shared).
///
/// Create it from the default adapter ([`GpuContext::new`]), from the software adapter
/// ([`GpuContext::software`]), or from a device your application already owns
/// ([`GpuContext::from_device`]).
#[derive(Clone)]
pub struct GpuContext {
    pub(crate) inner: Arc<ContextInner>,
}

pub(crate) struct ContextInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: Option<wgpu::AdapterInfo>,
    /// What the plan depends on, found once (`DeviceProfile::new`).
    pub profile: DeviceProfile,
    pub kernels: Kernels,
    pub health: Arc<Health>,
    /// The dense kernels (`crate::dense`), compiled on first use.
    pub dense: OnceLock<crate::dense::DenseKernels>,
    /// The side of the largest rgba32float texture the kernels may read and write (CPU
    /// adapters read large operands from textures, `gpu::kernels::WeightMemory`): the
    /// device's `max_texture_dimension_2d` where the adapter allows the format as a sampled
    /// and a storage texture, else 0 (no textures). 0 for a device the crate did not create.
    pub texture_side: u32,
}

/// What wgpu reported outside any call of ours: a lost device, or errors no scope caught.
#[derive(Default)]
pub(crate) struct Health {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Vec<String>>,
}

impl Health {
    /// Wires the device's callbacks to this record. Only for devices the crate created: an
    /// application's own device keeps the callbacks the application chose.
    fn watch(self: &Arc<Self>, device: &wgpu::Device) {
        let health = Arc::clone(self);
        device.set_device_lost_callback(move |reason, message| {
            *health.lost.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{reason:?}: {message}"));
        });
        let health = Arc::clone(self);
        // wgpu's default handler panics; ours turns the error into an Err of the next call.
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            health
                .uncaptured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
        }));
    }

    /// Fails if the device was lost or wgpu reported an error since the last check.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(Error::DeviceLost { reason });
        }
        let mut uncaptured = self.uncaptured.lock().unwrap_or_else(|e| e.into_inner());
        if !uncaptured.is_empty() {
            let message = uncaptured.join("; ");
            uncaptured.clear();
            return Err(Error::Gpu {
                operation: "an earlier GPU operation",
                message,
            });
        }
        Ok(())
    }

    /// Runs `work` between two checks: fails at once if the device is already lost or wgpu
    /// reported an error since the last call, explains a failure by a loss, and reports what
    /// wgpu raised outside our scopes while the work ran.
    pub(crate) async fn guard<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.check()?;
        let result = work.await.map_err(|e| self.explain(e));
        self.check()?;
        result
    }

    /// A loss explains any later failure better than the failure's own message.
    pub(crate) fn explain(&self, error: Error) -> Error {
        match self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(reason) => Error::DeviceLost { reason },
            None => error,
        }
    }
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
pub enum AdapterChoice {
    /// The high-performance adapter wgpu prefers (a discrete GPU when present).
    #[default]
    Default,
    /// A CPU-backed software adapter (Mesa lavapipe/llvmpipe, WARP): for tests and CI.
    Software,
}

impl GpuContext {
    /// A context on the default (high-performance) adapter. Blocks until ready.
    ///
    /// # Errors
    /// [`Error::NoAdapter`] when no adapter exists, [`Error::RequestDevice`] when it refuses a
    /// device, [`Error::Gpu`] when the kernels do not compile on it.
    pub fn new() -> Result<Self> {
        pollster::block_on(Self::with_adapter(AdapterChoice::Default))
    }

    /// A context on a software (CPU) adapter, such as Mesa's lavapipe. Blocks until ready.
    ///
    /// # Errors
    /// As [`GpuContext::new`].
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
        Err(Error::NoAdapter { reason: last_error })
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
        let needed = wgpu::TextureUsages::TEXTURE_BINDING
            | wgpu::TextureUsages::STORAGE_BINDING
            | wgpu::TextureUsages::COPY_DST;
        let texture_side = match adapter
            .get_texture_format_features(wgpu::TextureFormat::Rgba32Float)
            .allowed_usages
            .contains(needed)
        {
            true => device.limits().max_texture_dimension_2d,
            false => 0,
        };
        Self::build(
            device,
            queue,
            Some(adapter.get_info()),
            health,
            texture_side,
        )
        .await
    }

    /// A context on a device and queue your application already owns (for example the one it
    /// renders with). The crate only creates its own buffers and pipelines on it.
    /// Request `wgpu::Features::SUBGROUP` on that device where the adapter has it: the kernels
    /// then share loads through subgroup shuffles ([`GpuContext::uses_subgroups`]), about 1.5x
    /// faster on lavapipe.
    ///
    /// # Errors
    /// [`Error::DeviceLimit`] when the device allows fewer than 9 storage buffers per stage
    /// or has no compute support, [`Error::Gpu`] when the kernels do not compile on it.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        // The device knows its adapter: without its info a software adapter would count as a
        // GPU, skip the software loop-limit guard and return silently wrong results.
        let info = device.adapter_info();
        pollster::block_on(Self::build(device, queue, Some(info), Arc::default(), 0))
    }

    async fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: Option<wgpu::AdapterInfo>,
        health: Arc<Health>,
        texture_side: u32,
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
        let dot = DotLoop::for_device(&device);
        let kernels = Kernels::with_sources(&device, dot, |file| kernel_source(file, dot));
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu {
                operation: "compiling the kernels",
                message: e.to_string(),
            });
        }
        let profile = match &info {
            Some(info) => DeviceProfile::new(device.features(), info),
            None => DeviceProfile::GENERIC_GPU,
        };
        Ok(GpuContext {
            inner: Arc::new(ContextInner {
                device,
                queue,
                profile,
                info,
                kernels,
                health,
                dense: OnceLock::new(),
                texture_side,
            }),
        })
    }

    /// Whether the kernels share loads through subgroup operations: true when the device has
    /// `wgpu::Features::SUBGROUP` (contexts the crate creates request it where the adapter has
    /// it; for [`GpuContext::from_device`], request it on your device to get the faster loop).
    pub fn uses_subgroups(&self) -> bool {
        DotLoop::for_device(&self.inner.device) == DotLoop::Subgroup
    }

    /// The side of the largest texture the kernels may use, 0 for none
    /// (`ContextInner::texture_side`).
    pub(crate) fn texture_side(&self) -> u32 {
        self.inner.texture_side
    }

    /// What the plan of a pass depends on, found at creation: pass it to
    /// [`plan_lines`](super::plan_lines) to see how this device runs a model.
    pub fn profile(&self) -> DeviceProfile {
        self.inner.profile
    }

    /// What the kernels' cut and the strategy depend on (found once, at creation).
    pub(crate) fn adapter_kind(&self) -> AdapterKind {
        self.inner.profile.adapter
    }

    /// Whether the adapter is a CPU one (lavapipe, llvmpipe, WARP), whose kernels read from
    /// uniform buffers and textures what GPUs read from storage.
    pub(crate) fn on_cpu_adapter(&self) -> bool {
        self.inner.profile.is_software()
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
        self.inner.info.as_ref()
    }

    /// A one-line description of the adapter: name, backend and driver.
    pub fn adapter_name(&self) -> String {
        match &self.inner.info {
            Some(i) => format!(
                "{} ({:?}, {} {})",
                i.name, i.backend, i.driver, i.driver_info
            ),
            None => "a device supplied by the application".to_string(),
        }
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
        return format!("{}\nfn broken( {{", file.source(dot));
    }
    file.source(dot)
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
