//! Resolving a `-u` string against the container's own /etc/passwd and /etc/group, with
//! Docker's rules: `name`, `uid`, `name:group`, `uid:gid` (and mixes); a name must exist,
//! a number need not; without an explicit group the user's supplementary groups come from
//! /etc/group membership.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// A `--group-add` name the image lacks, in Docker's words (capitalised, unlike `-u`'s).
    #[error("Unable to find group {0}: no matching entries in group file")]
    UnknownAddedGroup(String),
    #[error("invalid user {spec:?}: {reason}")]
    Invalid { spec: String, reason: &'static str },
}

/// Who the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups found through /etc/group membership.
    pub supplementary_gids: Vec<u32>,
    /// The home directory from /etc/passwd, `/` when the user has no entry.
    pub home: String,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Resolves `spec` (the `-u` value). `passwd` and `group` are the files' contents, `None`
/// when the image lacks them.
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group).filter(|g| !g.is_empty())),
        None => (spec, None),
    };
    let user_number = numeric(spec, user_part)?;
    let group_number = group_part.map(|g| numeric(spec, g)).transpose()?.flatten();

    let entries: Vec<PasswdEntry> = passwd.map(parse_passwd).unwrap_or_default();
    let matched = entries
        .into_iter()
        .find(|entry| match (user_part, user_number) {
            ("", _) => entry.uid == 0,
            (_, Some(uid)) => entry.uid == uid,
            (name, None) => entry.name == name,
        });

    let mut user = ExecUser {
        uid: 0,
        gid: 0,
        supplementary_gids: Vec::new(),
        home: "/".into(),
    };
    match (&matched, user_number) {
        (Some(entry), _) => {
            user.uid = entry.uid;
            user.gid = entry.gid;
            user.home = entry.home.to_string();
        }
        (None, Some(uid)) => user.uid = uid,
        (None, None) if user_part.is_empty() => {}
        (None, None) => return Err(UserError::UnknownUser(user_part.to_string())),
    }

    let groups: Vec<GroupEntry> = group.map(parse_group).unwrap_or_default();
    match group_part {
        Some(wanted) => {
            let found = groups.iter().find(|g| match group_number {
                Some(gid) => g.gid == gid,
                None => g.name == wanted,
            });
            user.gid = match (found, group_number) {
                (Some(entry), _) => entry.gid,
                (None, Some(gid)) => gid,
                (None, None) => return Err(UserError::UnknownGroup(wanted.to_string())),
            };
        }
        None => {
            if let Some(entry) = &matched {
                user.supplementary_gids = groups
                    .iter()
                    .filter(|g| g.members.contains(&entry.name))
                    .map(|g| g.gid)
                    .collect();
            }
        }
    }
    Ok(user)
}

/// The gids of `--group-add` entries: a name must be in `group`; a number need not be.
pub fn additional_groups(wanted: &[String], group: Option<&str>) -> Result<Vec<u32>, UserError> {
    let groups: Vec<GroupEntry> = group.map(parse_group).unwrap_or_default();
    wanted
        .iter()
        .map(|entry| {
            let number = numeric(entry, entry)?;
            match groups
                .iter()
                .find(|g| g.name == entry || number == Some(g.gid))
            {
                Some(found) => Ok(found.gid),
                None => number.ok_or_else(|| UserError::UnknownAddedGroup(entry.clone())),
            }
        })
        .collect()
}

/// The home directory of `uid` in `passwd`, `/` if it has no entry.
pub fn home_of(uid: u32, passwd: Option<&str>) -> String {
    passwd
        .map(parse_passwd)
        .unwrap_or_default()
        .into_iter()
        .find(|entry| entry.uid == uid)
        .map(|entry| entry.home.to_string())
        .unwrap_or_else(|| "/".into())
}

fn numeric(spec: &str, part: &str) -> Result<Option<u32>, UserError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Ok(None);
    }
    if part.starts_with('-') {
        return Err(UserError::Invalid {
            spec: spec.into(),
            reason: "negative ids are not allowed",
        });
    }
    part.parse().map(Some).map_err(|_| UserError::Invalid {
        spec: spec.into(),
        reason: "id out of range",
    })
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| line.split(':').collect())
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry<'_>> {
    records(text)
        .filter_map(|fields| {
            Some(PasswdEntry {
                name: fields.first()?,
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).copied().unwrap_or(""),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry<'_>> {
    records(text)
        .filter_map(|fields| {
            Some(GroupEntry {
                name: fields.first()?,
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|list| list.split(',').filter(|m| !m.is_empty()).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn added_groups_resolve_names_and_keep_unknown_numbers() {
        let group = "wheel:x:10:root\naudio:x:29:user\n";
        let wanted =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            additional_groups(&wanted(&["audio", "4242", "10"]), Some(group)).unwrap(),
            [29, 4242, 10]
        );
        assert_eq!(
            additional_groups(&wanted(&["nosuch"]), Some(group))
                .unwrap_err()
                .to_string(),
            "Unable to find group nosuch: no matching entries in group file"
        );
        assert_eq!(additional_groups(&wanted(&["7"]), None).unwrap(), [7]);
    }

    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
        # a comment\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:app,other\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n";

    fn resolve_here(spec: &str) -> Result<ExecUser, UserError> {
        resolve(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn a_name_gets_its_ids_home_and_supplementary_groups() {
        let user = resolve_here("app").unwrap();
        assert_eq!(
            (user.uid, user.gid, user.home.as_str()),
            (1000, 1000, "/home/app")
        );
        assert_eq!(user.supplementary_gids, vec![10, 50]);
    }

    #[test]
    fn a_known_uid_behaves_like_its_name() {
        assert_eq!(resolve_here("1000").unwrap(), resolve_here("app").unwrap());
    }

    #[test]
    fn an_unknown_uid_runs_with_gid_0_and_home_root() {
        let user = resolve_here("4242").unwrap();
        assert_eq!((user.uid, user.gid, user.home.as_str()), (4242, 0, "/"));
        assert!(user.supplementary_gids.is_empty());
    }

    #[test]
    fn an_explicit_group_replaces_the_primary_and_drops_supplementary_groups() {
        let user = resolve_here("app:staff").unwrap();
        assert_eq!((user.uid, user.gid), (1000, 50));
        assert!(user.supplementary_gids.is_empty());
        assert_eq!(resolve_here("nobody:77").unwrap().gid, 77);
        assert_eq!(resolve_here("4242:4343").unwrap().gid, 4343);
    }

    #[test]
    fn unknown_names_fail_with_dockers_text() {
        assert_eq!(
            resolve_here("ghost").unwrap_err().to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        assert_eq!(
            resolve_here("app:ghosts").unwrap_err().to_string(),
            "unable to find group ghosts: no matching entries in group file"
        );
        assert!(matches!(
            resolve("app", None, None),
            Err(UserError::UnknownUser(_))
        ));
        assert!(matches!(resolve_here("-1"), Err(UserError::Invalid { .. })));
    }

    #[test]
    fn home_comes_from_passwd_by_uid() {
        assert_eq!(home_of(1000, Some(PASSWD)), "/home/app");
        assert_eq!(home_of(7, Some(PASSWD)), "/");
        assert_eq!(home_of(0, None), "/");
    }
}
