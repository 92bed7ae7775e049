//! `reef sweep submit|show|cancel|retry|ls`: a runner over every combination of parameter
//! values, over the HTTP API.

use super::Remote;
use super::jobs::Submission;
use super::output::{self, EXIT_OK, EXIT_USAGE, print_json};
use super::params::{collect, parse_pair};
use super::progress::{Display, POLL, elapsed_text};
use super::table::Table;
use crate::client::{ApiClient, ClientError, FOLLOW_GRACE, encode};
use clap::{Args, Subcommand};
use reef_core::api::sweep::{SweepAction, SweepGrid, SweepPage, SweepRequest, SweepView};
use reef_core::sweep::{Matrix, Sweep, SweepProgress};
use serde_json::Value;
use std::time::Instant;

/// `reef sweep ...`
#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// Submit a job for every combination of the --matrix values; print the sweep's id, or with
    /// --wait follow it and print its grid.
    ///
    /// Example: reef sweep submit demo --matrix benchmark=a.yml,b.yml --matrix agent=x,y --wait
    Submit(SubmitArgs),
    /// Show a sweep as a grid (rows × columns of its parameters).
    Show(ShowArgs),
    /// Cancel every job of a sweep that has not finished.
    Cancel(IdArgs),
    /// Run the failed and cancelled jobs of a sweep again.
    Retry(IdArgs),
    /// List sweeps, newest first.
    Ls(LsArgs),
}

/// `reef sweep submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Runner (see `reef runners`).
    pub runner: String,
    /// A swept parameter and its values, NAME=V1,V2,...; repeat for more parameters.
    #[arg(long = "matrix", value_name = "NAME=V1,V2", value_parser = parse_pair, required = true)]
    pub matrix: Vec<(String, String)>,
    /// Parameters every job gets, KEY=VALUE.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub params: Vec<(String, String)>,
    #[command(flatten)]
    pub submission: Submission,
    /// Follow the sweep until every job ended, showing progress on stderr; print its grid; exit
    /// 0 only if every job succeeded (4 otherwise).
    #[arg(long)]
    pub wait: bool,
    /// Print JSON (with --wait: the sweep with its progress).
    #[arg(long)]
    pub json: bool,
}

/// `reef sweep show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Sweep id.
    pub id: String,
    /// The parameter down the side (default: the matrix's first).
    #[arg(long)]
    pub rows: Option<String>,
    /// The parameter across the top (default: the other one).
    #[arg(long)]
    pub cols: Option<String>,
    /// Print the grid as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the grid as CSV, one line per cell.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// A command on one sweep.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Sweep id.
    pub id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// `reef sweep ls`
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Sweeps per page (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Continue after this cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print the raw JSON page.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs `reef sweep ...`; returns the exit code.
pub fn run(command: SweepCommand) -> i32 {
    match command {
        SweepCommand::Submit(args) => submit(args),
        SweepCommand::Show(args) => show(args),
        SweepCommand::Cancel(args) => act(args, "cancel"),
        SweepCommand::Retry(args) => act(args, "retry"),
        SweepCommand::Ls(args) => ls(args),
    }
}

/// `NAME=V1,V2` arguments as a matrix; a parameter given twice is a usage error.
fn matrix_of(pairs: &[(String, String)]) -> Result<Matrix, String> {
    let mut matrix = Matrix::new();
    for (name, values) in pairs {
        let values: Vec<Value> = values
            .split(',')
            .map(|v| Value::String(v.to_owned()))
            .collect();
        if matrix.insert(name.clone(), values).is_some() {
            return Err(format!("--matrix {name} is given twice"));
        }
    }
    Ok(matrix)
}

fn submit(args: SubmitArgs) -> i32 {
    let built = matrix_of(&args.matrix).and_then(|matrix| {
        let params = collect(&args.params).map_err(|e| e.to_string())?;
        let labels = collect(&args.submission.labels).map_err(|e| e.to_string())?;
        Ok((matrix, params, labels))
    });
    let (matrix, params, labels) = match built {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("reef: {e}");
            return EXIT_USAGE;
        }
    };
    let request = SweepRequest {
        runner: args.runner.clone(),
        matrix,
        params: params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
        labels,
        priority: args.submission.priority,
        tenant: args.submission.tenant.clone(),
    };
    let client = args.submission.remote.client();
    let headers = args.submission.headers();
    let sweep: Sweep = match client.post_with("/v1/sweeps", &request, &headers) {
        Ok(sweep) => sweep,
        Err(e) => return output::report(&e),
    };
    if !args.wait {
        if args.json {
            print_json(&sweep);
        } else {
            println!("{}", sweep.id);
        }
        return EXIT_OK;
    }
    let view = match follow(&client, sweep.id.as_str(), &mut Display::stderr()) {
        Ok(view) => view,
        Err(e) => return output::report(&e),
    };
    if args.json {
        print_json(&view);
    } else {
        let path = format!("/v1/sweeps/{}/grid", sweep.id);
        match client.get::<SweepGrid>(&path) {
            Ok(grid) => print!("{}", grid_table(&grid)),
            Err(e) => return output::report(&e),
        }
    }
    let all_succeeded = view.progress.states.get("succeeded").copied() == Some(view.progress.total);
    if all_succeeded {
        EXIT_OK
    } else {
        output::job_exit_code("failed")
    }
}

/// Follows sweep `id` until every job of it has finished, showing progress on `display`.
fn follow(client: &ApiClient, id: &str, display: &mut Display) -> Result<SweepView, ClientError> {
    let started = Instant::now();
    let path = format!("/v1/sweeps/{}", encode(id));
    loop {
        let view: SweepView = client.get_patiently(&path, FOLLOW_GRACE)?;
        let line = progress_line(id, &view.progress);
        let elapsed = elapsed_text(started.elapsed());
        display.show_line(
            |width| super::table::cut(&format!("{line}  {elapsed}"), width),
            &line,
        );
        if view.progress.finished == view.progress.total {
            display.finish();
            eprintln!("{line} in {elapsed}");
            return Ok(view);
        }
        std::thread::sleep(POLL);
    }
}

/// `01J…  4/6 finished  succeeded 3  failed 1  running 2`.
fn progress_line(id: &str, progress: &SweepProgress) -> String {
    let mut line = format!("{id}  {}/{} finished", progress.finished, progress.total);
    for (state, count) in &progress.states {
        line.push_str(&format!("  {state} {count}"));
    }
    line
}

fn show(args: ShowArgs) -> i32 {
    let client = args.remote.client();
    let mut query = Vec::new();
    if let Some(rows) = &args.rows {
        query.push(format!("rows={}", encode(rows)));
    }
    if let Some(cols) = &args.cols {
        query.push(format!("cols={}", encode(cols)));
    }
    if args.csv {
        query.push("format=csv".to_owned());
    }
    let path = format!("/v1/sweeps/{}/grid?{}", encode(&args.id), query.join("&"));
    if args.csv {
        return match client.get_bytes(&path) {
            Ok(bytes) => {
                print!("{}", String::from_utf8_lossy(&bytes));
                EXIT_OK
            }
            Err(e) => output::report(&e),
        };
    }
    match client.get::<SweepGrid>(&path) {
        Ok(grid) if args.json => {
            print_json(&grid);
            EXIT_OK
        }
        Ok(grid) => {
            print!("{}", grid_table(&grid));
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

/// The grid for people: one row per row value, one column per column value, each cell its
/// job's state and score (`succeeded 0.92`).
fn grid_table(grid: &SweepGrid) -> String {
    let shown = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let corner = match &grid.cols {
        Some(cols) => format!("{} \\ {}", grid.rows.param, cols.param),
        None => grid.rows.param.clone(),
    };
    let mut header = vec![corner];
    match &grid.cols {
        Some(cols) => header.extend(cols.values.iter().map(shown)),
        None => header.push("result".to_owned()),
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);
    for (value, cells) in grid.rows.values.iter().zip(&grid.cells) {
        let mut row = vec![shown(value)];
        for cell in cells {
            row.push(match cell {
                Some(cell) => match cell.score {
                    Some(score) => format!("{} {score:.2}", cell.state),
                    None => cell.state.clone(),
                },
                None => "-".to_owned(),
            });
        }
        table.row(row);
    }
    table.render()
}

fn act(args: IdArgs, action: &str) -> i32 {
    let client = args.remote.client();
    let path = format!("/v1/sweeps/{}/{action}", encode(&args.id));
    match client.post::<SweepAction>(&path, &serde_json::json!({})) {
        Ok(done) if args.json => {
            print_json(&done);
            EXIT_OK
        }
        Ok(done) => {
            let verb = if action == "cancel" {
                "cancelled"
            } else {
                "retried"
            };
            println!("{} jobs {verb}", done.jobs.len());
            println!("{}", progress_line(&args.id, &done.sweep.progress));
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

fn ls(args: LsArgs) -> i32 {
    let client = args.remote.client();
    let mut path = format!("/v1/sweeps?limit={}", args.limit);
    if let Some(cursor) = &args.cursor {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    let page: SweepPage = match client.get(&path) {
        Ok(page) => page,
        Err(e) => return output::report(&e),
    };
    if args.json {
        print_json(&page);
        return EXIT_OK;
    }
    let mut table = Table::new(&["ID", "RUNNER", "CELLS", "PARAMETERS", "CREATED"]);
    for sweep in &page.sweeps {
        let params: Vec<&str> = sweep.matrix.keys().map(String::as_str).collect();
        table.row(vec![
            sweep.id.to_string(),
            sweep.runner.clone(),
            sweep.cells.to_string(),
            params.join(" × "),
            sweep.created_at.to_string(),
        ]);
    }
    print!("{}", table.render());
    if let Some(next) = &page.next_cursor {
        eprintln!("more: --cursor {next}");
    }
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_arguments_split_on_commas_and_refuse_repeats() {
        let pairs = vec![
            ("benchmark".to_owned(), "a.yml,b.yml".to_owned()),
            ("agent".to_owned(), "x".to_owned()),
        ];
        let matrix = matrix_of(&pairs).unwrap();
        assert_eq!(
            matrix["benchmark"],
            vec![Value::from("a.yml"), Value::from("b.yml")]
        );
        assert_eq!(matrix["agent"], vec![Value::from("x")]);
        let twice = vec![pairs[1].clone(), pairs[1].clone()];
        assert!(matrix_of(&twice).unwrap_err().contains("twice"));
    }
}
