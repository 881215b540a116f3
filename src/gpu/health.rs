//! What wgpu reports outside the crate's calls: a lost device, or errors no scope caught.
//! Every call checks it before and after its work, so such an error surfaces as an `Err`.

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// What wgpu reported outside any call of ours: a lost device, or errors no scope caught.
#[derive(Default)]
pub(crate) struct Health {
    lost: Mutex<Option<String>>,
    uncaptured: Mutex<Vec<String>>,
}

impl Health {
    /// Wires the device's callbacks to this record. Only for devices the crate created: an
    /// application's own device keeps the callbacks the application chose.
    pub(crate) fn watch(self: &Arc<Self>, device: &wgpu::Device) {
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

    /// [`Health::guard`] for work that does not wait for the GPU.
    pub(crate) fn guard_now<T>(&self, work: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check()?;
        let result = work().map_err(|e| self.explain(e));
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
