//! The test runner: trials in parallel threads, a shared lazily built context, tables of trials.

use super::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// One trial: its name and what it runs with the suite's context.
pub type TestFn<C> = (&'static str, Box<dyn Fn(&C) + Send + Sync>);

/// The trial `name` running `f` (what [`tests!`] makes of each name).
pub fn trial<C: 'static>(name: &'static str, f: fn(&C)) -> TestFn<C> {
    (name, Box::new(f))
}

/// `tests![a, b, c]` → `vec![trial("a", a), trial("b", b), trial("c", c)]` for [`run`].
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$($crate::trial(stringify!($name), $name)),*]
    };
}

/// One trial per row of a table: named `name(row)`, running `f(ctx, row)`. For cases that share
/// one course and differ in data, each still reported (and filtered) by its own name.
pub fn table<C: 'static, T: Sync>(
    rows: &'static [T],
    name: fn(&T) -> &'static str,
    f: fn(&C, &T),
) -> Vec<TestFn<C>> {
    rows.iter()
        .map(|row| -> TestFn<C> { (name(row), Box::new(move |c: &C| f(c, row))) })
        .collect()
}

/// Runs the trials of one test binary with libtest-style output and exits.
///
/// `setup` is called once, on first use, and its result is shared by all trials; it is dropped
/// (gateways and origins shut down) before the process exits with libtest's exit code.
pub fn run<C, S>(setup: S, tests: impl IntoIterator<Item = TestFn<C>>) -> !
where
    C: Send + Sync + 'static,
    S: FnOnce() -> C + Send + 'static,
{
    let args = libtest_mimic::Arguments::from_args();
    let shared: Arc<Shared<C, S>> = Arc::new(Shared {
        setup: Mutex::new(Some(setup)),
        ctx: Mutex::new(None),
    });
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let shared = shared.clone();
            libtest_mimic::Trial::test(name, move || {
                let ctx = shared.get()?;
                match catch_unwind(AssertUnwindSafe(|| f(&ctx))) {
                    Ok(()) => Ok(()),
                    Err(panic) => {
                        Err(
                            format!("{}{}", panic_message(&panic), gateway_logs_for_failure())
                                .into(),
                        )
                    }
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // Tear down before exit(): process::exit does not run destructors.
    let ctx = shared.ctx.lock().unwrap().take();
    drop(ctx);
    conclusion.exit()
}

pub(crate) struct Shared<C, S> {
    setup: Mutex<Option<S>>,
    ctx: Mutex<Option<Result<Arc<C>, String>>>,
}

impl<C, S: FnOnce() -> C> Shared<C, S> {
    fn get(&self) -> Result<Arc<C>, libtest_mimic::Failed> {
        // Holding the lock during setup makes the other trials wait for it.
        let mut ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        if ctx.is_none() {
            let setup = self.setup.lock().unwrap().take().expect("setup runs once");
            let started = Instant::now();
            let made = ensure_worker_built().and_then(|()| {
                catch_unwind(AssertUnwindSafe(setup))
                    .map_err(|p| format!("suite setup failed: {}", panic_message(&p)))
            });
            if made.is_ok() {
                eprintln!(
                    "e2e: suite setup took {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            *ctx = Some(made.map(Arc::new));
        }
        match ctx.as_ref().unwrap() {
            Ok(c) => Ok(c.clone()),
            Err(e) => Err(e.clone().into()),
        }
    }
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Builds the worker with scripts/build-worker once per process, unless KEYGATE_PREBUILT=1.
pub(crate) fn ensure_worker_built() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if std::env::var("KEYGATE_PREBUILT").as_deref() == Ok("1") {
                return Ok(());
            }
            eprintln!("e2e: building the worker (scripts/build-worker; KEYGATE_PREBUILT=1 skips)");
            let status = Command::new("bash")
                .arg(repo_root().join("scripts/build-worker"))
                .current_dir(repo_root())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .map_err(|e| format!("cannot run scripts/build-worker: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("scripts/build-worker failed ({status})"))
            }
        })
        .clone()
}
