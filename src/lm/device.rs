//! Where a neural model runs: opening `cpu`, `cuda` or `cuda:N` with a one-line error that says
//! what to do, the device described for the records, and the memory a GPU has free (checked
//! before training allocates, so a run too big fails in one line, not in an out-of-memory
//! crash minutes in).

use crate::error::{Error, Result};
use candle_core::Device;

/// `cpu`, `cuda` or `cuda:N`.
pub fn open(name: &str) -> Result<Device> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        _ => name
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Error::invalid(
                    format!("unknown device `{name}`"),
                    "use cpu, cuda or cuda:N",
                )
            })?,
    };
    if !cfg!(feature = "cuda") {
        return Err(Error::invalid(
            format!("device `{name}` needs CUDA support, and this build has none"),
            "build with scripts/cuda_build.sh (or `cargo build --release --features cuda` where a \
             CUDA toolkit is installed)",
        ));
    }
    Device::new_cuda(ordinal).map_err(|e| cuda_error(name, &e.to_string()))
}

/// candle's and the driver's messages (several lines, a backtrace) as one line with a hint.
pub fn cuda_error(name: &str, message: &str) -> Error {
    let first = message.lines().next().unwrap_or("").trim();
    let has = |s: &str| message.contains(s);
    let (what, hint): (String, String) = if has("CUDA_ERROR_NO_DEVICE")
        || has("no CUDA-capable device")
    {
        (
            format!("no CUDA device is visible for `{name}`"),
            "run on a machine with an NVIDIA GPU (nvidia-smi lists it), or use --device cpu".into(),
        )
    } else if has("CUDA_ERROR_INVALID_DEVICE") || has("invalid device ordinal") {
        (
            format!("`{name}` is not a GPU of this machine"),
            "use cuda:0 up to the count nvidia-smi lists (CUDA_VISIBLE_DEVICES renumbers them)"
                .into(),
        )
    } else if has("CUDA_ERROR_INSUFFICIENT_DRIVER")
        || has("CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
        || has("driver version is insufficient")
    {
        (
            format!(
                "the NVIDIA driver is older than the CUDA this binary was built with ({first})"
            ),
            "update the driver, or rebuild with the CUDA version nvidia-smi shows \
             (scripts/cuda_build.sh pins 13.0)"
                .into(),
        )
    } else if has("CUDA_ERROR_OUT_OF_MEMORY") || has("out of memory") {
        (
            format!("the GPU behind `{name}` ran out of memory ({first})"),
            "lower --micro-batch or --context, or free the GPU (nvidia-smi shows its processes)"
                .into(),
        )
    } else {
        (
            format!("cannot use `{name}`: {first}"),
            "check the GPU and its driver with nvidia-smi".into(),
        )
    };
    Error::invalid(what, hint)
}

/// `cpu`, or `cuda:0 NVIDIA H100 80GB HBM3 (compute capability 9.0, 79.2 GiB)`, for the records.
pub fn describe(dev: &Device) -> String {
    match gpu(dev) {
        Some(g) => format!(
            "cuda:{} {} (compute capability {}.{}, {:.1} GiB)",
            g.ordinal,
            g.name,
            g.capability.0,
            g.capability.1,
            g.total as f64 / (1u64 << 30) as f64
        ),
        None => "cpu".into(),
    }
}

/// Refuses, in one line, a run whose estimate is more than the GPU has free (a CPU device
/// is checked against the machine's memory by [`crate::memory::check`]).
pub fn check_memory(dev: &Device, what: &str, bytes: f64, hint: &str) -> Result<()> {
    let Some(g) = gpu(dev) else {
        return crate::memory::check(what, bytes, hint);
    };
    if bytes > g.free as f64 {
        return Err(Error::invalid(
            format!(
                "{what} needs about {:.1} GiB of GPU memory; {} has {:.1} GiB free",
                bytes / (1u64 << 30) as f64,
                g.name,
                g.free as f64 / (1u64 << 30) as f64
            ),
            hint,
        ));
    }
    Ok(())
}

/// What the driver says of a CUDA device.
struct Gpu {
    ordinal: usize,
    name: String,
    capability: (i32, i32),
    free: u64,
    total: u64,
}

#[cfg(feature = "cuda")]
fn gpu(dev: &Device) -> Option<Gpu> {
    let cuda = dev.as_cuda_device().ok()?;
    let stream = cuda.cuda_stream();
    let ctx = stream.context();
    let (free, total) = ctx.mem_get_info().ok()?;
    Some(Gpu {
        ordinal: ctx.ordinal(),
        name: ctx.name().unwrap_or_else(|_| "an NVIDIA GPU".into()),
        capability: ctx.compute_capability().unwrap_or((0, 0)),
        free: free as u64,
        total: total as u64,
    })
}

#[cfg(not(feature = "cuda"))]
fn gpu(_dev: &Device) -> Option<Gpu> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_messages_become_one_line_with_a_hint() {
        let backtrace = "DriverError(CUDA_ERROR_NO_DEVICE, \"no CUDA-capable device is detected\")\n   0: candle_core::error::Error::bt\n   1: ...";
        let e = cuda_error("cuda", backtrace);
        assert_eq!(e.to_string(), "no CUDA device is visible for `cuda`");
        assert!(e.hint().contains("--device cpu"));
        let e = cuda_error(
            "cuda:3",
            "DriverError(CUDA_ERROR_INVALID_DEVICE, \"invalid device ordinal\")",
        );
        assert!(e.to_string().contains("`cuda:3` is not a GPU"), "{e}");
        let e = cuda_error("cuda", "DriverError(CUDA_ERROR_INSUFFICIENT_DRIVER, \"CUDA driver version is insufficient\")\nmore");
        assert!(
            e.to_string().starts_with("the NVIDIA driver is older")
                && !e.to_string().contains('\n')
        );
        assert!(open("tpu")
            .unwrap_err()
            .to_string()
            .contains("unknown device `tpu`"));
        if !cfg!(feature = "cuda") {
            let e = open("cuda:1").unwrap_err();
            assert!(
                e.to_string().contains("needs CUDA support") && e.hint().contains("cuda_build.sh")
            );
            assert_eq!(describe(&Device::Cpu), "cpu");
        }
    }
}
