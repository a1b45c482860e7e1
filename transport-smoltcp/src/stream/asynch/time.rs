//! [`EmbassyTimer`]: the async driver's [`Timer`] on embassy-time (feature `embassy-time`).

use core::future::Future;

use kprod_core::time::Instant;

use super::Timer;

/// embassy-time's clock and timer, in the core's microsecond [`Instant`]s. The application
/// links an embassy-time driver (its HAL's, or embassy-time's `std` one on a host).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbassyTimer;

impl Timer for EmbassyTimer {
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }

    fn at(&self, deadline: Instant) -> impl Future<Output = ()> {
        embassy_time::Timer::at(embassy_time::Instant::from_micros(deadline.as_micros()))
    }
}
