//! The end of a listener: let its connections finish for a while, then abort the rest.

use std::time::Duration;

use tokio::task::JoinSet;

/// Waits up to `grace` for every task of `tasks` to end, then aborts the rest and waits for
/// them to go; how many had to be aborted.
pub(crate) async fn drain_then_abort<T: 'static>(tasks: &mut JoinSet<T>, grace: Duration) -> usize {
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    let aborted = tasks.len();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    aborted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_that_end_within_the_grace_period_end_and_the_rest_are_aborted() {
        let mut tasks = JoinSet::new();
        tasks.spawn(async {});
        tasks.spawn(tokio::time::sleep(Duration::from_millis(10)));
        tasks.spawn(std::future::pending::<()>());
        let started = std::time::Instant::now();
        assert_eq!(drain_then_abort(&mut tasks, Duration::from_millis(200)).await, 1);
        assert!(tasks.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
