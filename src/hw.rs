// SPDX-License-Identifier: GPL-2.0

//! The boards pseudoscopic drives and what it knows about each.

use core::fmt;

/// NVIDIA GPU architectures pseudoscopic supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Architecture {
    Pascal,
    Volta,
    Turing,
}

impl Architecture {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pascal => "Pascal",
            Self::Volta => "Volta",
            Self::Turing => "Turing",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A supported board, as named by its PCI device ID.
#[derive(Debug)]
pub(crate) struct Board {
    pub(crate) name: &'static str,
    pub(crate) architecture: Architecture,
}

/// Tesla P100 (GP100).
pub(crate) static TESLA_P100: Board = Board {
    name: "Tesla P100",
    architecture: Architecture::Pascal,
};

/// Tesla P40 (GP102).
pub(crate) static TESLA_P40: Board = Board {
    name: "Tesla P40",
    architecture: Architecture::Pascal,
};

/// Tesla V100 and V100S (GV100).
pub(crate) static TESLA_V100: Board = Board {
    name: "Tesla V100",
    architecture: Architecture::Volta,
};

/// Quadro RTX 4000/5000/6000/8000 (TU102, TU104).
pub(crate) static QUADRO_RTX: Board = Board {
    name: "Quadro RTX",
    architecture: Architecture::Turing,
};
