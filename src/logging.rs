//! The log set-up (`MDM_LOG`, `MDM_LOG_FORMAT`), the one line every request
//! gets when it ends, and the lines that tell a clean stop from a crash.

use std::borrow::Cow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::{Level, Span};
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The filter when neither `MDM_LOG` nor `RUST_LOG` is set.
const DEFAULT_FILTER: &str = "info";

/// actix's own targets: at info they tell its workers starting and
/// stopping, which the product's own lines (listening, SIGTERM, drain,
/// stopped) already tell in the operator's words. They are held at `warn`
/// whatever the filter's general level, unless the filter names them.
const ACTIX_TARGETS: &[&str] = &["actix_server", "actix_http", "actix_web"];

/// The target of the per-request lines, so that a filter can pick them
/// (`MDM_LOG=info,mdm::http=warn` keeps only the cut-off requests).
const REQUEST_TARGET: &str = "mdm::http";

/// Query parameters whose value is a capability: whoever reads it can act
/// with it. `s` continues an OMA-DM session without credentials (the
/// RespURI token), `key` moves a FOTA session (the install-notify
/// correlator); the others are the usual names of a secret in a URL.
const SECRET_PARAMS: &[&str] = &[
    "s",
    "key",
    "token",
    "access_token",
    "password",
    "pin",
    "secret",
    "sig",
    "signature",
];

/// Why the log settings were refused, naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct LogSettingError {
    var: &'static str,
    reason: String,
}

/// Installs the global subscriber, or says which log setting is wrong: a
/// filter or format that silently fell back would leave the operator
/// without the lines they asked for.
pub fn init() -> Result<(), LogSettingError> {
    let filter = filter_from_env()?;
    let json = match std::env::var("MDM_LOG_FORMAT") {
        Err(_) => false,
        Ok(v) => match v.trim() {
            "" | "text" => false,
            "json" => true,
            other => {
                return Err(LogSettingError {
                    var: "MDM_LOG_FORMAT",
                    reason: format!("'{other}' is not a log format: use text or json"),
                })
            }
        },
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_on_stderr())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

fn filter_from_env() -> Result<EnvFilter, LogSettingError> {
    for var in ["MDM_LOG", "RUST_LOG"] {
        let Ok(value) = std::env::var(var) else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        return parse_filter(&value).map_err(|reason| LogSettingError { var, reason });
    }
    parse_filter(DEFAULT_FILTER).map_err(|reason| LogSettingError {
        var: "MDM_LOG",
        reason,
    })
}

fn parse_filter(value: &str) -> Result<EnvFilter, String> {
    let mut directives = value.to_string();
    for quiet in actix_held_at_warn(value) {
        directives.push(',');
        directives.push_str(&quiet);
    }
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| format!("'{value}' is not a log filter: {e}"))
}

/// The directives that keep [`ACTIX_TARGETS`] the filter does not name at
/// `warn` when its general level is more verbose; never louder than the
/// filter asked (`MDM_LOG=error` keeps them at error).
fn actix_held_at_warn(filter: &str) -> Vec<String> {
    let directives: Vec<&str> = filter.split(',').map(str::trim).collect();
    // A directive that is only a level sets the level of every target no
    // other directive names; the last one wins, as in EnvFilter.
    let Some(general) = directives
        .iter()
        .rev()
        .find_map(|d| d.parse::<LevelFilter>().ok())
    else {
        return Vec::new();
    };
    if general <= LevelFilter::WARN {
        return Vec::new();
    }
    let names = |krate: &str| {
        directives.iter().any(|d| {
            let target = d.split(['[', '=']).next().unwrap_or("").trim();
            target == krate
                || target
                    .strip_prefix(krate)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
    };
    ACTIX_TARGETS
        .iter()
        .filter(|krate| !names(krate))
        .map(|krate| format!("{krate}=warn"))
        .collect()
}

/// Colour codes belong on a terminal only: in a file, a pipe or journald
/// they are noise in every line. `NO_COLOR` (https://no-color.org) turns
/// them off on a terminal too.
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A request target as it may be logged: the value of every capability
/// parameter (see [`SECRET_PARAMS`]) replaced by `***`, the rest untouched.
pub struct MaskedTarget<'a>(pub &'a Uri);

impl fmt::Display for MaskedTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.path())?;
        match self.0.query() {
            Some(q) => write!(f, "?{}", mask_query(q)),
            None => Ok(()),
        }
    }
}

/// The query string with the value of every capability parameter masked.
pub fn mask_query(query: &str) -> Cow<'_, str> {
    if !query.split('&').any(is_secret_pair) {
        return Cow::Borrowed(query);
    }
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            // The name is kept: the line still says which session was meant.
            Some((name, _)) if is_secret_pair(pair) => {
                out.push_str(name);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
    Cow::Owned(out)
}

fn is_secret_pair(pair: &str) -> bool {
    let Some((name, value)) = pair.split_once('=') else {
        return false;
    };
    !value.is_empty() && SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s))
}

/// The root span of every request: tracing-actix-web's, with the target's
/// capability parameters masked (its own span records the query as sent)
/// and room for the caller.
pub struct MaskedRootSpan;

impl RootSpanBuilder for MaskedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let user_agent = request
            .headers()
            .get("User-Agent")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let route = request.match_pattern();
        let route = route.as_deref().unwrap_or("default");
        let request_id = request.extensions().get::<RequestId>().copied();
        let connection = request.connection_info();
        // The field values are only computed when the span is enabled.
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %connection.realip_remote_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %MaskedTarget(request.uri()),
            http.status_code = tracing::field::Empty,
            otel.name = %format_args!("{} {}", request.method(), route),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.map(|id| id.to_string()).unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Who made a request, as the extractor that established it noted it.
#[derive(Clone)]
struct Caller(String);

/// Notes the API token or portal user behind a request for its log line.
/// Nothing is done when request lines are off.
pub fn note_caller(req: &HttpRequest, who: impl FnOnce() -> String) {
    if tracing::enabled!(target: REQUEST_TARGET, Level::INFO) {
        req.extensions_mut().insert(Caller(who()));
    }
}

/// One line per request, when its response has been sent (or when it was
/// cut off: client gone, or the server stopping), with its status, time,
/// bytes sent, request id and caller. Off at `MDM_LOG=error` or `warn`, it
/// costs the device-facing paths one level check.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !tracing::enabled!(target: REQUEST_TARGET, Level::INFO)
        && !tracing::enabled!(target: REQUEST_TARGET, Level::WARN)
    {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let mut line = RequestLine {
        started: Instant::now(),
        method: req.method().to_string(),
        target: MaskedTarget(req.uri()).to_string(),
        request_id: req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default(),
        caller: None,
        status: None,
        error: None,
        sent: 0,
        finished: false,
    };
    // Dropped with the request's future if no response comes: an upload
    // cut off by the drain, or a client that went away.
    let res = next.call(req).await;
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            line.status = Some(e.as_response_error().status_code().as_u16());
            line.error = Some(e.to_string());
            line.finished = true;
            return Err(e);
        }
    };
    line.status = Some(res.status().as_u16());
    line.error = res.response().error().map(|e| e.to_string());
    line.caller = caller_of(res.request());
    let res = res.map_into_boxed_body();
    let head_only = res.request().method() == actix_web::http::Method::HEAD;
    if head_only
        || matches!(
            res.response().body().size(),
            BodySize::None | BodySize::Sized(0)
        )
    {
        // No body to wait for: the dispatcher may not poll it at all.
        line.finished = true;
    }
    Ok(res
        .map_body(|_, body| LoggedBody { body, line })
        .map_into_right_body())
}

fn caller_of(req: &HttpRequest) -> Option<String> {
    let ext = req.extensions();
    if let Some(caller) = ext.get::<Caller>() {
        return Some(caller.0.clone());
    }
    ext.get::<crate::api::caller::ApiCaller>()
        .map(|c| format!("token {} (#{})", c.name, c.token_id))
}

struct RequestLine {
    started: Instant,
    method: String,
    target: String,
    request_id: String,
    caller: Option<String>,
    status: Option<u16>,
    /// Why the request was refused or failed (the error its response was
    /// made from), so that the one line says it: tracing-actix-web's own
    /// error event is off (its `emit_event_on_error` feature), as it
    /// repeated the request in a second, generic line.
    error: Option<String>,
    sent: u64,
    finished: bool,
}

impl Drop for RequestLine {
    fn drop(&mut self) {
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let caller = self.caller.as_deref().unwrap_or("-");
        match (self.status, self.finished) {
            (Some(status), true) => tracing::info!(
                target: REQUEST_TARGET,
                method = %self.method,
                path = %self.target,
                status,
                duration_ms = format_args!("{duration_ms:.1}"),
                bytes = self.sent,
                request_id = %self.request_id,
                caller,
                error = self.error.as_deref(),
                "request completed"
            ),
            (Some(status), false) => tracing::warn!(
                target: REQUEST_TARGET,
                method = %self.method,
                path = %self.target,
                status,
                duration_ms = format_args!("{duration_ms:.1}"),
                bytes = self.sent,
                request_id = %self.request_id,
                caller,
                error = self.error.as_deref(),
                "request cut off while sending the response (client gone or server stopping)"
            ),
            (None, _) => tracing::warn!(
                target: REQUEST_TARGET,
                method = %self.method,
                path = %self.target,
                duration_ms = format_args!("{duration_ms:.1}"),
                request_id = %self.request_id,
                "request cut off before a response (client gone or server stopping)"
            ),
        }
    }
}

/// A response body that counts what it sent and logs the request's line
/// when it is done with.
struct LoggedBody {
    body: BoxBody,
    line: RequestLine,
}

impl MessageBody for LoggedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<actix_web::web::Bytes, Self::Error>>> {
        // Both fields are Unpin (the body is boxed), so the struct is too.
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => this.line.sent += chunk.len() as u64,
            Poll::Ready(None) => this.line.finished = true,
            _ => {}
        }
        polled
    }
}

/// The grace running requests get when the server is told to stop
/// gracefully (SIGTERM, see [`stop_on_signal`]): the server is built with it
/// (`HttpServer::shutdown_timeout` in `Application::build`) and the stop
/// lines quote it, so the two cannot tell different stories.
pub const DRAIN_GRACE: Duration = Duration::from_secs(30);

// `shutdown_timeout` takes whole seconds: a fraction would be dropped there
// and still counted here.
const _: () = assert!(DRAIN_GRACE.subsec_nanos() == 0);

/// Watches, from this call on, for the signals that stop the server, and
/// when one comes logs it and stops `server`: SIGTERM gracefully (new
/// connections refused, running requests drained for up to
/// [`DRAIN_GRACE`]), SIGINT and SIGQUIT at once. The server is built with
/// actix's own signal handling off: with two handlers, a signal that came
/// after this one was set up but before actix's (the first milliseconds
/// after the start) was logged here and never seen by actix, and the server
/// ran on. The task ends with when the signal came, for [`log_stopped`].
pub fn stop_on_signal(server: ServerHandle) -> tokio::task::JoinHandle<Option<Instant>> {
    use tokio::signal::unix::{signal, SignalKind};
    let watch = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            // The default action then applies: the process ends at once.
            tracing::warn!(error = %e, "cannot watch for {name}: it will end the server without a drain or a log line");
            None
        }
    };
    let mut term = watch(SignalKind::terminate(), "SIGTERM");
    let mut int = watch(SignalKind::interrupt(), "SIGINT");
    let mut quit = watch(SignalKind::quit(), "SIGQUIT");
    tokio::spawn(async move {
        let graceful = tokio::select! {
            Some(()) = next(&mut term) => {
                tracing::info!(
                    grace_secs = DRAIN_GRACE.as_secs(),
                    "SIGTERM received: stopping; no new connections, draining running requests for up to {} s",
                    DRAIN_GRACE.as_secs()
                );
                true
            }
            Some(()) = next(&mut int) => {
                tracing::info!("SIGINT received: stopping now, running requests are cut off");
                false
            }
            Some(()) = next(&mut quit) => {
                tracing::info!("SIGQUIT received: stopping now, running requests are cut off");
                false
            }
            else => return None,
        };
        let signalled = Instant::now();
        // The command is sent by the call; the server's own future (awaited
        // by `run_until_stopped`) ends when the stop is done.
        drop(server.stop(graceful));
        Some(signalled)
    })
}

/// The next delivery of a watched signal; never, for one not watched.
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Logs the server's end: how long the drain took, and whether the grace
/// ran out with requests still running.
pub fn log_stopped(signalled: Option<Instant>) {
    match signalled {
        Some(at) if at.elapsed() + Duration::from_millis(500) >= DRAIN_GRACE => tracing::warn!(
            drained_ms = at.elapsed().as_millis() as u64,
            "drain timeout hit after {} s: requests still running were cut off; server stopped",
            DRAIN_GRACE.as_secs()
        ),
        Some(at) => tracing::info!(
            drained_ms = at.elapsed().as_millis() as u64,
            "server stopped"
        ),
        None => tracing::info!("server stopped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(target: &str) -> String {
        MaskedTarget(&target.parse::<Uri>().expect("test URI")).to_string()
    }

    #[test]
    fn capability_parameters_are_masked() {
        assert_eq!(masked("/omadm?s=MFZGnfyuUzaPbWseZR_U-g"), "/omadm?s=***");
        assert_eq!(
            masked("/dl/1/notify?fota=1&key=AiSkScwB8G8cq5pjNjew"),
            "/dl/1/notify?fota=1&key=***"
        );
        assert_eq!(
            masked("/x?TOKEN=abc&a=1&password=p&pin=1234"),
            "/x?TOKEN=***&a=1&password=***&pin=***"
        );
    }

    #[test]
    fn other_targets_are_untouched() {
        assert_eq!(
            masked("/devices?q=3122&before=5"),
            "/devices?q=3122&before=5"
        );
        assert_eq!(masked("/omadm?fota=7"), "/omadm?fota=7");
        assert_eq!(masked("/omadm"), "/omadm");
        // A name merely ending in a secret's name is not one; an empty value hides nothing.
        assert_eq!(masked("/x?mykey=1&s="), "/x?mykey=1&s=");
        assert!(matches!(mask_query("a=1&b=2"), Cow::Borrowed(_)));
    }

    /// Whether `filter` lets an event of `target` at `level` through.
    fn lets_through(filter: &str, target: &'static str, level: Level) -> bool {
        use tracing_subscriber::layer::SubscriberExt;
        let filter = parse_filter(filter).expect("filter");
        let subscriber = tracing_subscriber::registry().with(filter);
        tracing::subscriber::with_default(subscriber, || match (target, level) {
            ("actix_server::builder", Level::INFO) => {
                tracing::enabled!(target: "actix_server::builder", Level::INFO)
            }
            ("actix_server::builder", Level::WARN) => {
                tracing::enabled!(target: "actix_server::builder", Level::WARN)
            }
            ("actix_http::h1::dispatcher", Level::DEBUG) => {
                tracing::enabled!(target: "actix_http::h1::dispatcher", Level::DEBUG)
            }
            ("actix_web::middleware", Level::INFO) => {
                tracing::enabled!(target: "actix_web::middleware", Level::INFO)
            }
            ("mdm::http", Level::INFO) => tracing::enabled!(target: "mdm::http", Level::INFO),
            other => panic!("no probe for {other:?}"),
        })
    }

    #[test]
    fn actix_lines_stay_at_warn_unless_named() {
        for filter in [DEFAULT_FILTER, "info", "debug", "mdm=info,debug"] {
            assert!(lets_through(filter, "mdm::http", Level::INFO), "{filter}");
            assert!(
                !lets_through(filter, "actix_server::builder", Level::INFO),
                "{filter}"
            );
            assert!(
                lets_through(filter, "actix_server::builder", Level::WARN),
                "{filter}"
            );
            assert!(
                !lets_through(filter, "actix_http::h1::dispatcher", Level::DEBUG),
                "{filter}"
            );
            assert!(
                !lets_through(filter, "actix_web::middleware", Level::INFO),
                "{filter}"
            );
        }
        // Named, a target gets what the filter says; the others stay held.
        assert!(lets_through(
            "info,actix_server=info",
            "actix_server::builder",
            Level::INFO
        ));
        assert!(lets_through(
            "debug,actix_http::h1=debug",
            "actix_http::h1::dispatcher",
            Level::DEBUG
        ));
        assert!(!lets_through(
            "info,actix_server=info",
            "actix_web::middleware",
            Level::INFO
        ));
        // Never louder than asked.
        assert!(!lets_through("error", "actix_server::builder", Level::WARN));
        assert!(actix_held_at_warn("warn").is_empty());
        assert!(actix_held_at_warn("mdm=debug").is_empty());
        // A crate whose name merely starts like actix's is not named by it.
        assert_eq!(
            actix_held_at_warn("info,actix_server_ext=info"),
            ["actix_server=warn", "actix_http=warn", "actix_web=warn"]
        );
    }

    #[test]
    fn bad_filters_and_formats_are_refused() {
        assert!(parse_filter("info,actix_server=warn").is_ok());
        assert!(parse_filter("info,mdm=loud").is_err());
        assert!(parse_filter("[[").is_err());
    }
}
