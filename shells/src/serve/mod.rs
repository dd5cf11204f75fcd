//! `fixedbrot serve`: the explorer. An HTTP server (axum on tokio) serves the page from the
//! binary, answers where a place is after a pan or a zoom ([`Place`], exact), and computes
//! tiles and downloads on the in-process pool ([`tiles`]).
//!
//! The page keeps decimal text and whole pixels; every number of the plane is the server's.
mod connections;
mod flights;
mod page;
mod query;
mod remote;
mod sending;
mod tiles;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query as Pairs, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Json, Router};
use fixedbrot_pipeline::explorer::{Ask, Place, MAX_SCALE};
use hyper_util::service::TowerToHyperService;
use serde_json::json;

use crate::cli::{FormatChoice, KernelChoice, ServeArgs, ViewArgs};
use crate::log::info;
use connections::Connections;
use query::Query;
use tiles::{Refused, Tiles};

/// What every request shares.
struct App {
    tiles: Arc<Tiles>,
}

type Shared = State<Arc<App>>;
type Params = Pairs<Vec<(String, String)>>;

/// Serves until SIGINT or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<(), Box<dyn Error>> {
    // In this process, a thread a core; with Kafka, jobs in flight to keep workers busy.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args
        .threads
        .unwrap_or(if args.kafka.is_some() { 16 } else { cores })
        .max(1);
    let limits = args.limits.limits();
    let remote = match &args.kafka {
        Some(kafka) => {
            let timeout = Duration::from_secs(args.tile_timeout);
            let remote = remote::Remote::start(kafka, limits, timeout, threads)?;
            info!(
                "Tiles are jobs for the Kafka worker pool: {} -> {} at {}",
                kafka.requests_topic, kafka.responses_topic, kafka.brokers
            );
            Some(remote)
        }
        None => {
            info!("Tiles are computed in this process, {threads} at once");
            None
        }
    };
    let app = Arc::new(App {
        tiles: Arc::new(Tiles::new(
            threads as u32,
            args.max_queue as usize,
            (args.cache_mib << 20) as usize,
            limits,
            remote,
        )),
    });
    // Two threads answer requests; the tiles compute on blocking threads, `threads` at once.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = runtime.block_on(serve(args.listen, app));
    // Connections dropped set their tiles' cancel flags; the blocking threads stop soon.
    runtime.shutdown_timeout(Duration::from_secs(5));
    served
}

async fn serve(listen: std::net::SocketAddr, app: Arc<App>) -> Result<(), Box<dyn Error>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr()?;
    info!("Explorer at http://{address}/");
    let router = router(app, address);
    let connections = Connections::new();
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, say: wait rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(Arc::clone(&connections).serve(stream, service));
    }
    info!("Stopped");
    Ok(())
}

fn router(app: Arc<App>, address: std::net::SocketAddr) -> Router {
    let hosts = Arc::new(hosts(address));
    Router::new()
        .route("/", get(page::index))
        .route("/explorer.js", get(page::script))
        .route("/explorer.css", get(page::style))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/place", get(place))
        .route("/api/tile", get(tile))
        .route("/api/download", get(download))
        .fallback(|| async { bad(StatusCode::NOT_FOUND, "no such page".into()) })
        .layer(middleware::from_fn_with_state(hosts, guard))
        .layer(middleware::map_response(page::headers))
        .with_state(app)
}

/// The names a request may give its host: on a loopback address, the loopback names with
/// the port, so that a page elsewhere whose name resolves here (DNS rebinding) is refused;
/// on any other address, whatever the user reaches it by (`None`).
fn hosts(address: std::net::SocketAddr) -> Option<Vec<String>> {
    let port = address.port();
    address.ip().is_loopback().then(|| {
        let names = ["127.0.0.1", "localhost", "[::1]"];
        let mut hosts: Vec<String> = names.iter().map(|n| format!("{n}:{port}")).collect();
        if port == 80 {
            hosts.extend(names.iter().map(|n| n.to_string()));
        }
        hosts
    })
}

const SEC_FETCH_SITE: header::HeaderName = header::HeaderName::from_static("sec-fetch-site");
const SEC_FETCH_MODE: header::HeaderName = header::HeaderName::from_static("sec-fetch-mode");

/// Refuses a request for another host, and one a page of another site makes (the browser
/// says so in `Sec-Fetch-Site`): a page elsewhere may not make this server work.
async fn guard(
    State(hosts): State<Arc<Option<Vec<String>>>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    // In a block: a borrow of the request held across the await would make the future
    // not Send.
    let (host, site, mode) = {
        let header = |name| {
            let value = request.headers().get(name)?.to_str().ok();
            value.map(str::to_ascii_lowercase)
        };
        (
            header(header::HOST),
            header(SEC_FETCH_SITE),
            header(SEC_FETCH_MODE),
        )
    };
    // A link to the page followed from anywhere (a chat, a wiki) opens it; only what the
    // page itself asks for must come from the page.
    let opens_page = request.uri().path() == "/" && mode.as_deref() == Some("navigate");
    if let Some(hosts) = hosts.as_ref() {
        if !host.is_some_and(|host| hosts.contains(&host)) {
            return bad(StatusCode::MISDIRECTED_REQUEST, "unknown host".into());
        }
    }
    if !opens_page && site.is_some_and(|site| site != "same-origin" && site != "none") {
        return bad(
            StatusCode::FORBIDDEN,
            "requests from other sites are refused".into(),
        );
    }
    next.run(request).await
}

/// Resolves on SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A refusal: its status and one line of plain text.
fn bad(status: StatusCode, reason: String) -> Response {
    let mut response = (status, format!("{reason}\n")).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn bad_request(reason: String) -> Response {
    bad(StatusCode::BAD_REQUEST, reason)
}

/// `GET /api/place`: the place asked, moved by `dx`, `dy` pixels and zoomed by `2^zoom` about
/// the pixel `ax`, `ay` from its centre; its exact centre, lattice and settings.
async fn place(State(app): Shared, Pairs(pairs): Params) -> Response {
    let answer = (|| {
        let mut query = Query::new(pairs)?;
        let ask = query.ask("h")?;
        let far = -(1i64 << 40)..=1 << 40;
        let (dx, dy) = (
            query.number("dx", far.clone(), 0)?,
            query.number("dy", far, 0)?,
        );
        let zoom = query.number("zoom", -64..=64, 0)?;
        let (ax, ay) = (
            query.number("ax", -65_535..=65_535, 0)?,
            query.number("ay", -65_535..=65_535, 0)?,
        );
        // A place has no colour, but a tile's query names its palette: checked, not used.
        query.colouring()?;
        query.finish()?;
        let limits = app.tiles.limits();
        let mut place = Place::new(&ask, limits)?.moved(dx, dy)?;
        if zoom != 0 {
            // Out, the reason is the placeholder view's range, which would only confuse.
            place =
                (place.zoomed(zoom, (ax, ay), ask.format, limits)).map_err(|reason| {
                    match zoom < 0 {
                        true => "as far out as the explorer goes".to_owned(),
                        false => reason,
                    }
                })?;
        }
        Ok::<_, String>(described(&place))
    })();
    match answer {
        Ok(json) => Json(json).into_response(),
        Err(reason) => bad_request(reason),
    }
}

/// What the page shows and keeps of a place.
fn described(place: &Place) -> serde_json::Value {
    json!({
        "c": place.centre_text(),
        "z": place.zoom.to_string(),
        "n": place.iterations,
        "nAuto": place.auto_iterations,
        "format": place.format.to_string(),
        "kernel": place.kernel.name(),
        "step": place.step_text(),
        "column": place.centre.0.to_string(),
        "row": place.centre.1.to_string(),
        "tile": fixedbrot_pipeline::explorer::TILE_SIDE,
    })
}

/// `GET /api/tile`: the PNG of tile `x`, `y` of a place, 204 if it has no pixel in the safe
/// range. Its bytes depend on the request alone, so browsers may keep it forever.
async fn tile(State(app): Shared, Pairs(pairs): Params) -> Response {
    let asked = (|| {
        let mut query = Query::new(pairs)?;
        let ask = query.ask("h")?;
        let (_, colouring) = query.colouring()?;
        let (x, y) = (query.big("x")?, query.big("y")?);
        let scale = query.number("s", 1..=MAX_SCALE, 1)?;
        query.finish()?;
        let (limits, smooth) = (app.tiles.limits(), colouring.uses_fractions());
        let tile = Place::new(&ask, limits)?.tile((&x, &y), scale, smooth, limits)?;
        Ok::<_, String>((tile, colouring))
    })();
    let (tile_job, colouring) = match asked {
        Ok((Some(tile_job), colouring)) => (tile_job, colouring),
        Ok((None, _)) => return StatusCode::NO_CONTENT.into_response(),
        Err(reason) => return bad_request(reason),
    };
    match app.tiles.tile(tile_job.job, &colouring).await {
        Ok(tile) => {
            let (x, y) = tile_job.at;
            let headers = [
                (header::CONTENT_TYPE, "image/png".to_owned()),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_owned(),
                ),
                (
                    header::HeaderName::from_static("x-tile-at"),
                    format!("{x},{y}"),
                ),
                (
                    header::HeaderName::from_static("x-worker"),
                    tile.worker.clone(),
                ),
                (
                    header::HeaderName::from_static("server-timing"),
                    format!("compute;dur={:.1}", tile.millis),
                ),
            ];
            (headers, tile.png.clone()).into_response()
        }
        Err(refused) => refusal(refused),
    }
}

fn refusal(refused: Refused) -> Response {
    match refused {
        Refused::Busy(what) => bad(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("busy: {what}; try again"),
        ),
        // The client has gone; nobody reads this.
        Refused::Cancelled => bad(StatusCode::SERVICE_UNAVAILABLE, "cancelled".into()),
        Refused::TimedOut(after) => bad(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "no worker finished it within {} s of the first request for it",
                after.as_secs()
            ),
        ),
        Refused::Failed(reason) => bad(StatusCode::UNPROCESSABLE_ENTITY, reason),
    }
}

/// `GET /api/download`: the place rendered `w` x `h` as `render` renders it, with its
/// permalink and command line in text chunks.
async fn download(State(app): Shared, Pairs(pairs): Params) -> Response {
    let asked = (|| {
        let mut query = Query::new(pairs)?;
        let ask = query.ask("h")?;
        let width = query.number("w", 1..=fixedbrot_core::limits::MAX_SIDE, 0)?;
        let (palette, colouring) = query.colouring()?;
        if width == 0 {
            return Err("parameter w is missing".to_owned());
        }
        query.finish()?;
        let view = view_args(&ask, width, app.tiles.limits())?;
        let mut job = view.job(app.tiles.limits())?;
        job.smooth = colouring.uses_fractions();
        Ok((job, colouring, texts(&ask, &view, &palette)))
    })();
    let (job, colouring, texts) = match asked {
        Ok(asked) => asked,
        Err(reason) => return bad_request(reason),
    };
    match app.tiles.download(job, &colouring, texts).await {
        Ok((png, slot)) => {
            let headers = [
                (header::CONTENT_TYPE, "image/png"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"fixedbrot.png\"",
                ),
            ];
            let body = axum::body::Body::new(sending::Download::new(png, slot));
            (headers, body).into_response()
        }
        Err(refused) => refusal(refused),
    }
}

/// The flags `render` would take for `ask` at `width` x its height: the same checks, the
/// same job. The iteration limit is the place's (auto's, when it follows the zoom, within
/// `--max-iterations` as the tiles' is).
fn view_args(
    ask: &Ask,
    width: u32,
    limits: &fixedbrot_pipeline::Limits,
) -> Result<ViewArgs, String> {
    let iterations = ask.iterations.unwrap_or_else(|| {
        fixedbrot_pipeline::explorer::auto_iterations(&ask.zoom).min(limits.max_iterations)
    });
    Ok(ViewArgs {
        top_left: String::new(),
        bottom_right: String::new(),
        center: Some(ask.centre.clone()),
        zoom: Some(ask.zoom),
        width,
        height: ask.height,
        iterations,
        tile: None,
        format: ask.format.map_or(FormatChoice::Auto, FormatChoice::Is),
        kernel: ask.kernel.map_or(KernelChoice::Auto, KernelChoice::Is),
        samples: 1,
    })
}

/// `text` as a query's value, as the page writes it (encodeURIComponent, commas kept).
fn in_query(text: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_.!~*'(),".contains(&b);
    text.bytes()
        .map(|b| match plain(b) {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// The download's text chunks: the page that shows it, and the command that renders it.
fn texts(ask: &Ask, view: &ViewArgs, palette: &str) -> Vec<(String, String)> {
    let format = ask.format.map_or("auto".into(), |f| f.bits().to_string());
    let kernel = ask.kernel.map_or("auto", |k| k.name());
    let iterations = ask.iterations.map_or("auto".into(), |n| n.to_string());
    // As the page writes it: the kernel only when one is chosen.
    let chosen = ask
        .kernel
        .map_or(String::new(), |k| format!("&k={}", k.name()));
    let permalink = format!(
        "/?c={}&z={}&n={iterations}&p={palette}&f={format}{chosen}",
        in_query(&ask.centre),
        ask.zoom
    );
    let command = format!(
        "fixedbrot render --center {} --zoom {} --width {} --height {} --iterations {} \
         --format {format} --kernel {kernel} --palette {palette}",
        ask.centre, ask.zoom, view.width, view.height, view.iterations
    );
    vec![
        ("fixedbrot-permalink".into(), permalink),
        ("fixedbrot-command".into(), command),
    ]
}
