// SPDX-License-Identifier: GPL-2.0

//! A scratch directory tree for tests of code that reads sysfs and procfs.

use std::{fs, path::PathBuf};

pub struct Tree(pub PathBuf);

impl Tree {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ps-tierd-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.0.join(rel)).unwrap();
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
