//! Error scopes around the crate's calls into wgpu: what they catch becomes an [`Error::Gpu`].

use crate::error::{Error, Result};

/// Errors captured while the crate talks to wgpu, turned into [`Error::Gpu`].
pub(crate) struct Scopes(Vec<wgpu::ErrorScopeGuard>);

impl Scopes {
    /// Natively, scopes for validation, out-of-memory and internal errors. In a browser none:
    /// a call there cannot block to read a scope, so wgpu's errors go to the device's
    /// uncaptured-error handler instead and surface from the next call (`Health::check`).
    pub(crate) fn push(device: &wgpu::Device) -> Self {
        if cfg!(target_arch = "wasm32") {
            return Scopes(Vec::new());
        }
        Scopes(
            [
                wgpu::ErrorFilter::Validation,
                wgpu::ErrorFilter::OutOfMemory,
                wgpu::ErrorFilter::Internal,
            ]
            .into_iter()
            .map(|f| device.push_error_scope(f))
            .collect(),
        )
    }

    /// Pops every scope and waits here for what they caught: for calls that cannot await
    /// (natively; in a browser there is nothing to wait for, see [`Scopes::push`]).
    pub(crate) fn settle(self, operation: &'static str) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        return pollster::block_on(self.pop(operation));
        #[cfg(target_arch = "wasm32")]
        {
            let _ = operation;
            Ok(())
        }
    }

    /// Pops every scope now (innermost first); the returned future reports the first error.
    pub(crate) fn pop(
        mut self,
        operation: &'static str,
    ) -> impl std::future::Future<Output = Result<()>> + wgpu::WasmNotSend {
        let mut futures = Vec::new();
        while let Some(scope) = self.0.pop() {
            futures.push(scope.pop());
        }
        async move {
            for f in futures {
                if let Some(e) = f.await {
                    return Err(Error::Gpu {
                        operation,
                        message: e.to_string(),
                    });
                }
            }
            Ok(())
        }
    }
}

impl Drop for Scopes {
    /// Scopes must be popped innermost first, also on an early return.
    fn drop(&mut self) {
        while let Some(scope) = self.0.pop() {
            drop(scope);
        }
    }
}
