//! Requests for the same thing at once share one computation of it: the first starts it, the
//! others wait for its value, and it stops when the last of them goes. Two users opening one
//! link at once compute each tile once (the cache shares only tiles already finished).
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::AbortHandle;

/// The computations under way, by key.
pub struct Flights<K, V> {
    flights: Mutex<HashMap<K, Flight<V>>>,
    /// Names each flight, so that a waiter of one that ended never counts against the next.
    next: AtomicU64,
}

struct Flight<V> {
    id: u64,
    /// The value, once the computation has it.
    done: watch::Receiver<Option<V>>,
    waiters: usize,
    task: AbortHandle,
}

impl<K: Hash + Eq + Copy, V: Clone + Send + Sync + 'static> Flights<K, V> {
    pub fn new() -> Flights<K, V> {
        Flights {
            flights: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
        }
    }

    /// The value of the computation of `key`: the one under way, or `work` started now on a
    /// task of its own. `None` if the computation ended without one (it panicked).
    pub async fn join<W>(&self, key: K, work: impl FnOnce() -> W) -> Option<V>
    where
        W: Future<Output = V> + Send + 'static,
    {
        let (id, mut done) = {
            let mut flights = self.lock();
            let flight = flights.entry(key).or_insert_with(|| self.take_off(work()));
            flight.waiters += 1;
            (flight.id, flight.done.clone())
        };
        let _aboard = Aboard {
            flights: self,
            key,
            id,
        };
        let value = done.wait_for(Option::is_some).await.ok()?.clone();
        value
    }

    fn take_off(&self, work: impl Future<Output = V> + Send + 'static) -> Flight<V> {
        let (sender, done) = watch::channel(None);
        let task = tokio::spawn(async move {
            let _ = sender.send(Some(work.await));
        });
        Flight {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            done,
            waiters: 0,
            task: task.abort_handle(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Flight<V>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One waiter of flight `id`: when the last goes, the flight is forgotten, and its
/// computation stopped if it is still under way.
struct Aboard<'a, K: Hash + Eq, V> {
    flights: &'a Flights<K, V>,
    key: K,
    id: u64,
}

impl<K: Hash + Eq, V> Drop for Aboard<'_, K, V> {
    fn drop(&mut self) {
        let mut flights = (self.flights.flights)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(flight) = flights.get_mut(&self.key).filter(|f| f.id == self.id) else {
            return;
        };
        flight.waiters -= 1;
        if flight.waiters == 0 {
            flight.task.abort();
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn requests_for_one_key_at_once_share_one_computation() {
        let flights = Flights::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let work = || {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
                42
            }
        };
        let (a, b, other) = runtime().block_on(async {
            tokio::join!(
                flights.join(1, work),
                flights.join(1, work),
                flights.join(2, work)
            )
        });
        assert_eq!((a, b, other), (Some(42), Some(42), Some(42)));
        assert_eq!(runs.load(Ordering::Relaxed), 2, "one for each key");
        assert!(
            flights.lock().is_empty(),
            "forgotten once all have their value"
        );
    }

    /// Sets its flag when dropped: when the computation holding it is stopped.
    struct Stopped(Arc<AtomicUsize>);

    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_computation_stops_when_the_last_of_its_requests_goes() {
        let flights = Flights::new();
        let stopped = Arc::new(AtomicUsize::new(0));
        let work = || {
            let stopped = Stopped(Arc::clone(&stopped));
            async move {
                let _held = stopped;
                tokio::time::sleep(Duration::from_secs(60)).await;
                0
            }
        };
        runtime().block_on(async {
            let mut last = Box::pin(flights.join(1, work));
            let first = tokio::time::timeout(Duration::from_millis(10), flights.join(1, work));
            tokio::select! {
                _ = &mut last => unreachable!("a minute's work"),
                gave_up = first => assert!(gave_up.is_err()),
            }
            tokio::task::yield_now().await;
            assert_eq!(
                stopped.load(Ordering::Relaxed),
                0,
                "one request is still there"
            );
            drop(last);
            // The aborted task drops its work at its next turn.
            tokio::task::yield_now().await;
            assert_eq!(stopped.load(Ordering::Relaxed), 1);
        });
        assert!(flights.lock().is_empty());
    }
}
