//! cgroup v1 and v2 managers behind one trait.
