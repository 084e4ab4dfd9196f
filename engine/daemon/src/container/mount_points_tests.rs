use super::*;
use bollard_stubs::models::MountVolumeOptions;

#[test]
fn binds_volumes_and_anonymous_volumes_parse_like_docker() {
    let bind = parse_bind("/srv/data/:/data:ro", None).unwrap();
    assert_eq!(bind.point.kind, MountKind::Bind);
    assert_eq!(bind.point.source, PathBuf::from("/srv/data"));
    assert!(!bind.point.rw);
    assert_eq!(bind.point.propagation, "rprivate");
    assert!(bind.volume.is_none());

    let named = parse_bind("cache:/var/cache:nocopy", None).unwrap();
    assert_eq!(named.point.kind, MountKind::Volume);
    assert_eq!(named.point.name, "cache");
    assert!(named.point.rw && !named.point.copy_data);
    assert_eq!(named.point.propagation, "");
    assert_eq!(named.volume.unwrap().name.as_deref(), Some("cache"));

    let anonymous = parse_bind("/scratch", None).unwrap();
    assert_eq!(anonymous.point.name, "");
    assert!(anonymous.point.copy_data);
    assert_eq!(anonymous.volume.unwrap().name, None);
}

#[test]
fn bad_specs_get_dockers_messages() {
    let message = |raw: &str| parse_bind(raw, None).unwrap_err().to_string();
    assert_eq!(message("vol:data"), "invalid volume specification: 'vol:data': invalid mount config for type \"volume\": invalid mount path: 'data' mount path must be absolute");
    assert_eq!(
        message("/a:/b:bogus"),
        "invalid volume specification: '/a:/b:bogus': invalid mode: bogus"
    );
    assert_eq!(
        message("/data:ro"),
        "invalid volume specification: '/data:ro'"
    );
    assert!(message("vol:/").contains("destination can't be '/'"));
    assert!(message("/a:/b:ro,rw").contains("invalid mode"));
    assert!(message("a:b:c:d").starts_with("invalid volume specification"));
}

#[test]
fn mounts_of_type_volume_carry_their_options() {
    let mount = Mount {
        typ: Some(MountTypeEnum::VOLUME),
        source: Some("db".into()),
        target: Some("/var/lib/db".into()),
        read_only: Some(true),
        volume_options: Some(MountVolumeOptions {
            no_copy: Some(true),
            subpath: Some("sub/dir".into()),
            labels: Some([("a".to_string(), "b".to_string())].into_iter().collect()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let planned = parse_mount(&mount).unwrap().unwrap();
    assert!(!planned.point.rw && !planned.point.copy_data);
    assert_eq!(planned.point.subpath, "sub/dir");
    let wanted = planned.volume.unwrap();
    assert_eq!(wanted.labels.get("a").map(String::as_str), Some("b"));

    let escaping = Mount {
        volume_options: Some(MountVolumeOptions {
            subpath: Some("../x".into()),
            ..Default::default()
        }),
        read_only: None,
        ..mount
    };
    assert!(parse_mount(&escaping).is_err());
}

#[test]
fn later_sources_replace_earlier_ones_on_the_same_destination() {
    let host = HostConfig {
        binds: Some(vec!["named:/data".into()]),
        ..Default::default()
    };
    let from = vec![(
        vec![MountPoint {
            kind: MountKind::Volume,
            name: "shared".into(),
            source: PathBuf::from("/v/shared/_data"),
            destination: "/shared".into(),
            rw: true,
            mode: String::new(),
            propagation: String::new(),
            copy_data: true,
            subpath: String::new(),
        }],
        "ro".to_string(),
    )];
    let planned = plan(&host, &["/data".into(), "/logs".into()], &from).unwrap();
    let by_dest: BTreeMap<_, _> = planned
        .iter()
        .map(|p| (p.point.destination.as_str(), p))
        .collect();
    assert_eq!(by_dest["/data"].point.name, "named");
    assert_eq!(by_dest["/logs"].point.name, "");
    assert!(!by_dest["/shared"].point.rw && !by_dest["/shared"].point.copy_data);
    assert!(by_dest["/shared"].volume.is_none());

    let twice = HostConfig {
        binds: Some(vec!["a:/data".into(), "b:/data".into()]),
        ..Default::default()
    };
    assert!(plan(&twice, &[], &[]).is_err());
}

#[test]
fn volumes_from_modes() {
    assert_eq!(
        parse_volumes_from("web").unwrap(),
        ("web".into(), "rw".into())
    );
    assert_eq!(parse_volumes_from("web:ro").unwrap().1, "ro");
    assert!(parse_volumes_from("web:nocopy").is_err());
    assert!(parse_volumes_from("").is_err());
}
