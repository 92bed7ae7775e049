//! `reef policy test`: run a plugin against sample decisions, locally, before pushing it.

/// Runs `plugin` against the corpus; false when any call faulted or answered invalidly.
pub fn run(
    plugin: &std::path::Path,
    corpus: Option<&std::path::Path>,
    json: bool,
    repeat: u32,
) -> anyhow::Result<bool> {
    use anyhow::Context;
    use reef_policy::{corpus as samples, wasm};
    let bytes = std::fs::read(plugin).with_context(|| format!("reading {}", plugin.display()))?;
    let runtime = wasm::PluginRuntime::new(wasm::CallLimits::default())?;
    let policy = runtime
        .load(&bytes)
        .with_context(|| format!("{} was refused", plugin.display()))?;
    let cases = match corpus {
        Some(dir) => samples::load_dir(dir).map_err(anyhow::Error::msg)?,
        None => samples::builtin(),
    };
    if !json {
        println!(
            "{} ({}, {} bytes)",
            plugin.display(),
            policy.digest(),
            policy.size()
        );
    }
    let mut ok = true;
    for case in &cases {
        let mut outcome = samples::run(&policy, case);
        let mut times = vec![outcome.took];
        for _ in 1..repeat.max(1) {
            outcome = samples::run(&policy, case);
            times.push(outcome.took);
        }
        times.sort();
        let micros = times[times.len() / 2].as_secs_f64() * 1e6;
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)].as_secs_f64() * 1e6;
        ok &= outcome.answer.is_ok();
        if json {
            let answer = match &outcome.answer {
                Ok(v) => serde_json::json!({"answer": v}),
                Err(f) => serde_json::json!({"fault": f.kind(), "error": f.to_string()}),
            };
            let mut line = serde_json::json!({
                "case": case.name, "hook": case.call.hook(), "micros": micros, "p99_micros": p99,
            });
            if let (Some(line), Some(answer)) = (line.as_object_mut(), answer.as_object()) {
                line.extend(answer.clone());
            }
            println!("{line}");
        } else {
            let shown = match &outcome.answer {
                Ok(v) => v.to_string(),
                Err(f) => format!("FAULT {f}"),
            };
            let hook = case.call.hook();
            let name = &case.name;
            if repeat > 1 {
                println!("{micros:>9.1} µs  p99 {p99:>9.1} µs  {hook:<8} {name:<40} {shown}");
            } else {
                println!("{micros:>9.1} µs  {hook:<8} {name:<40} {shown}");
            }
        }
    }
    Ok(ok)
}
