//! `--mix`: the shares of the three workload kinds, e.g. `lookup=60,write=25,list=15`.

use std::fmt;
use std::str::FromStr;

/// The workload's shares, in percent (any non-negative weights; they need not sum to 100).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Key lookups: half a task by id, half a user by email.
    pub lookup: u32,
    /// Write transactions: half creating a task, half updating a task's status.
    pub write: u32,
    /// Pages of 50 tasks of a project.
    pub list: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            lookup: 60,
            write: 25,
            list: 15,
        }
    }
}

/// One operation kind of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A key lookup.
    Lookup,
    /// A write transaction.
    Write,
    /// A list page.
    List,
}

impl Mix {
    fn total(&self) -> u32 {
        self.lookup + self.write + self.list
    }

    /// The kind a uniform random number in `0..total` picks.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> Kind {
        let n = rng.u32(0..self.total());
        if n < self.lookup {
            Kind::Lookup
        } else if n < self.lookup + self.write {
            Kind::Write
        } else {
            Kind::List
        }
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Mix {
            lookup: 0,
            write: 0,
            list: 0,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| {
                format!("{part:?} is not KIND=WEIGHT (e.g. lookup=60,write=25,list=15)")
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight {weight:?} of {name} is not a whole number"))?;
            match name.trim() {
                "lookup" => mix.lookup = weight,
                "write" => mix.write = weight,
                "list" => mix.list = weight,
                other => {
                    return Err(format!(
                        "unknown kind {other:?}: use lookup, write and list"
                    ))
                }
            }
        }
        if mix.total() == 0 || mix.total() > 1_000_000 {
            return Err("the weights must add up to between 1 and 1,000,000".into());
        }
        Ok(mix)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lookup={},write={},list={}",
            self.lookup, self.write, self.list
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse() {
        assert_eq!(
            "lookup=60,write=25,list=15".parse::<Mix>().unwrap(),
            Mix::default()
        );
        assert_eq!(
            "write=1".parse::<Mix>().unwrap(),
            Mix {
                lookup: 0,
                write: 1,
                list: 0
            }
        );
        for bad in ["", "lookup", "lookup=x", "scan=3", "lookup=0"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad}");
        }
        let mix: Mix = "list=1".parse().unwrap();
        let mut rng = fastrand::Rng::with_seed(1);
        assert!((0..100).all(|_| mix.pick(&mut rng) == Kind::List));
    }
}
