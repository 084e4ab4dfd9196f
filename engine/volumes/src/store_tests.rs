use std::io;
use std::sync::Arc;

use super::*;
use crate::error::ErrorKind;

/// Records mounts instead of making them.
#[derive(Default)]
struct FakeMounter {
    mounted: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl Mounter for FakeMounter {
    fn mount(&self, _: &MountSpec, target: &Path) -> io::Result<()> {
        self.mounted.lock().insert(target.to_path_buf());
        Ok(())
    }
    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.mounted.lock().remove(target);
        Ok(())
    }
    fn is_mounted(&self, target: &Path) -> io::Result<bool> {
        Ok(self.mounted.lock().contains(target))
    }
}

fn store(root: &Path) -> (Store, Arc<Mutex<BTreeSet<PathBuf>>>) {
    let mounter = FakeMounter::default();
    let mounted = mounter.mounted.clone();
    (Store::open(root, Box::new(mounter)).unwrap(), mounted)
}

fn named(name: &str) -> CreateRequest {
    CreateRequest {
        name: Some(name.to_string()),
        ..Default::default()
    }
}

#[test]
fn volumes_and_their_labels_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    let mut request = named("data");
    request.labels.insert("team".into(), "db".into());
    let created = volumes.create(request).unwrap();
    assert_eq!(created.mountpoint, dir.path().join("data/_data"));
    assert!(created.mountpoint.is_dir());
    std::fs::write(created.mountpoint.join("f"), b"kept").unwrap();
    drop(volumes);

    let (reopened, _) = store(dir.path());
    let volume = reopened.get("data").unwrap();
    assert_eq!(volume.labels.get("team").map(String::as_str), Some("db"));
    assert_eq!(volume.created_at, created.created_at);
    assert_eq!(std::fs::read(volume.mountpoint.join("f")).unwrap(), b"kept");
}

#[test]
fn creating_an_existing_name_answers_the_volume() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    let first = volumes.create(named("data")).unwrap();
    let mut again = named("data");
    again.labels.insert("x".into(), "y".into());
    assert_eq!(volumes.create(again).unwrap(), first);
}

#[test]
fn bad_names_drivers_and_options_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    for name in ["../x", "a/b", ".."] {
        let err = volumes.create(named(name)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{name}");
    }
    let mut request = named("data");
    request.driver = Some("nope".into());
    let err = volumes.create(request).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "create data: error looking up volume plugin nope: plugin \"nope\" not found"
    );
    let mut request = named("data");
    request.options.insert("bogus".into(), "1".into());
    assert_eq!(
        volumes.create(request).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(volumes.list().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn anonymous_volumes_get_a_random_name_and_the_label() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    let volume = volumes.create(CreateRequest::default()).unwrap();
    assert_eq!(volume.name.len(), 64);
    assert!(volume.is_anonymous());
    assert_eq!(volume.driver, LOCAL_DRIVER);
}

#[test]
fn a_volume_in_use_is_not_removed_even_forced() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    volumes.create(named("data")).unwrap();
    volumes.acquire("data", "c1").unwrap();
    volumes.acquire("data", "c2").unwrap();
    let err = volumes.remove("data", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.to_string(), "remove data: volume is in use - [c1, c2]");
    volumes.release("c1");
    assert!(volumes.remove("data", false).is_err());
    volumes.release("c2");
    volumes.remove("data", false).unwrap();
    assert!(!dir.path().join("data").exists());
    assert_eq!(
        volumes.get("data").unwrap_err().to_string(),
        "get data: no such volume"
    );
    assert!(volumes.remove("data", true).is_ok());
    assert_eq!(
        volumes.remove("data", false).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn volumes_with_options_are_mounted_by_their_first_user_and_unmounted_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, mounted) = store(dir.path());
    let mut request = named("scratch");
    for (k, v) in [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")] {
        request.options.insert(k.into(), v.into());
    }
    volumes.create(request).unwrap();
    volumes.create(named("plain")).unwrap();
    assert!(mounted.lock().is_empty());
    let path = volumes.acquire("scratch", "c1").unwrap();
    volumes.acquire("plain", "c1").unwrap();
    volumes.acquire("scratch", "c2").unwrap();
    assert_eq!(mounted.lock().iter().collect::<Vec<_>>(), vec![&path]);
    volumes.release("c1");
    assert!(mounted.lock().contains(&path));
    volumes.release("c2");
    assert!(mounted.lock().is_empty());
}

#[test]
fn prune_takes_only_unused_volumes_it_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    let anon = volumes.create(CreateRequest::default()).unwrap();
    std::fs::write(anon.mountpoint.join("f"), b"12345").unwrap();
    let used = volumes.create(CreateRequest::default()).unwrap();
    volumes.acquire(&used.name, "c1").unwrap();
    volumes.create(named("named")).unwrap();
    let (removed, reclaimed) = volumes.prune(Volume::is_anonymous).unwrap();
    assert_eq!(removed, vec![anon.name.clone()]);
    assert_eq!(reclaimed, 5);
    let names: Vec<String> = volumes.list().into_iter().map(|v| v.name).collect();
    assert!(names.contains(&"named".to_string()) && names.contains(&used.name));
}

#[test]
fn half_made_and_half_removed_volumes_are_cleaned_at_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".creating-new/_data")).unwrap();
    std::fs::create_dir_all(dir.path().join(".removing-old/_data")).unwrap();
    std::fs::create_dir_all(dir.path().join("legacy/_data")).unwrap();
    let (volumes, _) = store(dir.path());
    let names: Vec<String> = volumes.list().into_iter().map(|v| v.name).collect();
    assert_eq!(names, vec!["legacy".to_string()]);
    assert!(!dir.path().join(".creating-new").exists());
    assert!(!dir.path().join(".removing-old").exists());
}

#[test]
fn concurrent_creates_of_one_name_make_one_volume_and_of_others_one_each() {
    let dir = tempfile::tempdir().unwrap();
    let (volumes, _) = store(dir.path());
    let volumes = Arc::new(volumes);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let volumes = volumes.clone();
            std::thread::spawn(move || {
                let shared = volumes.create(named("shared")).unwrap();
                let own = volumes.create(named(&format!("own{i}"))).unwrap();
                (shared.created_at, own.name)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first = results[0].0;
    assert!(results.iter().all(|(created_at, _)| *created_at == first));
    assert_eq!(volumes.list().len(), 9);
    // Nothing half made is left beside them.
    let mut entries: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    let mut expected: Vec<String> = (0..8).map(|i| format!("own{i}")).collect();
    expected.push("shared".into());
    assert_eq!(entries, expected);
}
