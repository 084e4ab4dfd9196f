//! Untrusted API input through the parsers berthd runs it through: the create-container
//! body as far as the runtime spec, exec bodies, `filters`, `--change` lines, the query
//! string (with the container name it may carry) and `X-Registry-Auth`. The first byte
//! picks the parser; the rest is its input.
//! Whatever the input, each must answer with a value or an error, never panic.

#![no_main]

use berth_engine::{
    check_supported, console_size, decode_json, merge_config, runtime_config, validate_name,
    ContainerDir, ContainerRecord, EventFilter, Filters, Query, State,
};
use bollard_stubs::models::{ContainerCreateBody, ExecConfig, ExecStartConfig};
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn image() -> ImageConfiguration {
    let config = ConfigBuilder::default()
        .cmd(vec!["sh".to_string()])
        .env(vec!["PATH=/bin".to_string()])
        .build()
        .unwrap();
    ImageConfigurationBuilder::default()
        .config(config)
        .build()
        .unwrap()
}

fn create_container(body: &[u8]) {
    let Ok(mut body) = decode_json::<ContainerCreateBody>(body) else {
        return;
    };
    let mut host_config = body.host_config.take().unwrap_or_default();
    if check_supported(&host_config).is_err() {
        return;
    }
    let Ok(config) = merge_config(&body, &image(), ID) else {
        return;
    };
    // A missing `-v` source directory is created on the host, as Docker does: not for a fuzzer.
    host_config.binds = None;
    let record = ContainerRecord {
        id: ID.to_string(),
        name: "fuzz".to_string(),
        created: Default::default(),
        image_id: format!("sha256:{ID}"),
        config,
        host_config,
        layers: vec!["/nonexistent/layer".into()],
        mount_points: Vec::new(),
        state: State::created(),
        network: Default::default(),
    };
    let dir = ContainerDir::new("/nonexistent/containers".as_ref(), ID);
    let _ = runtime_config(&record, &dir, "/berth");
}

fn exec_bodies(body: &[u8]) {
    let _ = decode_json::<ExecConfig>(body);
    if let Ok(start) = decode_json::<ExecStartConfig>(body) {
        let _ = console_size(start.console_size.as_ref());
    }
}

fn filters(raw: &str) {
    if let Ok(filters) = Filters::parse(raw) {
        let _ = EventFilter::parse(&filters);
    }
}

fn changes(raw: &str) {
    let lines: Vec<String> = raw.lines().map(str::to_string).collect();
    let mut config = oci_spec::image::Config::default();
    let _ = berth_images::changes::apply_changes(&mut config, &lines);
}

fn query(raw: &str) {
    let query = Query::parse(Some(raw));
    if let Some(name) = query.get("name") {
        let _ = validate_name(name);
    }
    let _ = query.filters();
    let _ = query.all("changes");
}

fn registry_auth(raw: &str) {
    let _ = berth_distribution::auth::Credentials::from_header(raw);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);
    match which % 6 {
        0 => create_container(input),
        1 => exec_bodies(input),
        2 => filters(&text),
        3 => changes(&text),
        4 => query(&text),
        _ => registry_auth(&text),
    }
});
