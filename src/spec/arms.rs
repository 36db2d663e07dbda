//! The arms of a spec: what each chain of a study varies.
//!
//! Two forms, one per file:
//! - `arms = ["replace", "accumulate", "mix:0.1"]`: an arm per policy, named by the policy
//!   (`mix0.1`), with `[arm."<policy>"]` tables for neural overrides (as before).
//! - `[arms.<name>]` tables: a `policy` and any chain setting (`temperature`, `protocol`,
//!   `vocab`, `min_count`, `sample_tokens`, `train_tokens`, `human_tokens`, `max_line_words`)
//!   or neural setting (any key of `[gpt]`: `num_beams`, `epochs`, ...), so two arms can share
//!   a policy and differ in decoding, temperature or compute. Arms keep the file's order.
//!
//! Why refuse rather than ignore: an override that does not apply (a neural setting on an
//! n-gram model) or a key nobody reads would silently run the default, and the comparison
//! would not be the one the researcher wrote.

use super::Spec;
use crate::corpus::policy::Policy;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::lm::settings::GptSettings;
use serde::Deserialize;
use std::collections::HashSet;

/// The `arms` key, in either form.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum ArmsSpec {
    /// `arms = ["replace", "mix:0.1"]`.
    Policies(Vec<String>),
    /// `[arms.<name>]` tables.
    Named(toml::Table),
}

/// The chain settings an arm may change.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainOverrides {
    pub temperature: Option<f64>,
    pub protocol: Option<String>,
    pub vocab: Option<String>,
    pub min_count: Option<u32>,
    pub sample_tokens: Option<usize>,
    pub train_tokens: Option<usize>,
    pub human_tokens: Option<usize>,
    pub max_line_words: Option<usize>,
}

const CHAIN_KEYS: &[&str] = &[
    "temperature",
    "protocol",
    "vocab",
    "min_count",
    "sample_tokens",
    "train_tokens",
    "human_tokens",
    "max_line_words",
];

/// One arm, resolved: its name (a part of chain names), policy and overrides.
#[derive(Clone, Debug)]
pub struct ArmDef {
    pub name: String,
    pub policy: Policy,
    pub overrides: ChainOverrides,
    /// Neural settings laid over `[gpt]`.
    pub neural: Option<toml::Table>,
}

impl Spec {
    /// The spec's arms in order, each checked: a policy, a usable name, no name twice, keys
    /// that exist and apply to the model family.
    pub(super) fn arm_defs(&self) -> Result<Vec<ArmDef>> {
        let defs = match &self.arms {
            ArmsSpec::Policies(list) => self.policy_arms(list)?,
            ArmsSpec::Named(tables) => self.named_arms(tables)?,
        };
        if defs.is_empty() {
            return Err(Error::invalid(
                "`arms` lists no arm",
                "write arms = [\"replace\", \"accumulate\"] or [arms.<name>] tables with a policy",
            ));
        }
        let mut seen = HashSet::new();
        for d in &defs {
            if !seen.insert(d.name.as_str()) {
                return Err(Error::invalid(
                    format!("two arms are named `{}`", d.name),
                    "give each arm its own name ([arms.<name>] tables) or list each policy once",
                ));
            }
        }
        Ok(defs)
    }

    fn policy_arms(&self, list: &[String]) -> Result<Vec<ArmDef>> {
        if let Some(k) = self.arm.keys().find(|k| !list.contains(k)) {
            return Err(Error::invalid(
                format!("[arm.\"{k}\"] is not one of the arms {list:?}"),
                "name a policy listed in `arms`",
            ));
        }
        list.iter()
            .map(|p| {
                let policy: Policy = p.parse()?;
                Ok(ArmDef {
                    name: policy.slug(),
                    policy,
                    overrides: ChainOverrides::default(),
                    neural: self.arm.get(p).cloned(),
                })
            })
            .collect()
    }

    fn named_arms(&self, tables: &toml::Table) -> Result<Vec<ArmDef>> {
        if let Some(k) = self.arm.keys().next() {
            return Err(Error::invalid(
                format!("[arm.\"{k}\"] goes with `arms = [...]`, not with [arms.<name>] tables"),
                "put the arm's settings in its own [arms.<name>] table",
            ));
        }
        let model = self.model_spec()?;
        let neural_keys: Vec<String> = match model.default_settings() {
            Some(s) => toml::Table::try_from(s)
                .map(|t| t.keys().cloned().collect())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let all_neural_keys: Vec<String> = toml::Table::try_from(GptSettings::default())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let mut defs = Vec::new();
        for (name, value) in tables {
            let at = |what: String| format!("[arms.{name}]: {what}");
            Layout::check_name(name).map_err(|e| {
                Error::invalid(
                    at(e.to_string()),
                    "arm names are letters, digits, '-', '_', '.'",
                )
            })?;
            let table = value.as_table().ok_or_else(|| {
                Error::invalid(
                    at("is not a table".into()),
                    "write [arms.<name>] with policy = \"replace\" and any overrides",
                )
            })?;
            let policy: Policy = table
                .get("policy")
                .and_then(|p| p.as_str())
                .ok_or_else(|| {
                    Error::invalid(
                        at("has no policy".into()),
                        "add policy = \"replace\" (or accumulate, mix:F, fresh:F, ...)",
                    )
                })?
                .parse()?;
            let (mut chain, mut neural) = (toml::Table::new(), toml::Table::new());
            for (k, v) in table.iter().filter(|(k, _)| *k != "policy") {
                if CHAIN_KEYS.contains(&k.as_str()) {
                    chain.insert(k.clone(), v.clone());
                } else if neural_keys.contains(k) {
                    neural.insert(k.clone(), v.clone());
                } else if all_neural_keys.contains(k) {
                    return Err(Error::invalid(
                        at(format!("`{k}` does not apply to {model}")),
                        "drop it, or use a neural model (gpt:..., hf:...) for this spec",
                    ));
                } else {
                    return Err(Error::invalid(
                        at(format!("unknown key `{k}`")),
                        format!(
                            "an arm takes policy, {} and the keys of [gpt] (neural models)",
                            CHAIN_KEYS.join(", ")
                        ),
                    ));
                }
            }
            let overrides: ChainOverrides = chain.try_into().map_err(|e: toml::de::Error| {
                Error::invalid(at(e.message().into()), "check the value's type")
            })?;
            defs.push(ArmDef {
                name: name.clone(),
                policy,
                overrides,
                neural: (!neural.is_empty()).then_some(neural),
            });
        }
        Ok(defs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::ngram::VocabMode;
    use crate::sampling::Protocol;
    use std::path::Path;

    fn parse(text: &str) -> Result<Spec> {
        Spec::parse(text, Path::new("s.toml"))
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn named_arms_carry_their_overrides_in_file_order() {
        let spec = parse(
            "name = \"d\"\nseed = 5\ntemperature = 0.9\n\
             [arms.warm]\npolicy = \"replace\"\ntemperature = 1.3\nvocab = \"fixed\"\n\
             [arms.cont]\npolicy = \"replace\"\nprotocol = \"continue:4\"\ntrain_tokens = 900\n\
             [arms.acc]\npolicy = \"accumulate\"\n",
        )
        .unwrap();
        let arms = spec.arms().unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.experiment.as_str()).collect();
        assert_eq!(names, ["d-warm", "d-cont", "d-acc"]);
        assert_eq!(arms[0].temperature, 1.3);
        assert!(matches!(
            arms[0].model,
            crate::chain::ChainModel::Ngram {
                vocab: VocabMode::Fixed,
                ..
            }
        ));
        assert_eq!(arms[1].temperature, 0.9); // the spec's, not overridden
        assert_eq!(arms[1].protocol, Protocol::Continue { prompt_words: 4 });
        assert_eq!(arms[1].train_tokens, Some(900));
        assert_eq!(arms[2].policy, Policy::Accumulate);
        assert!(arms.iter().all(|a| a.seed == 5 && a.split_seed.is_none()));
    }

    #[test]
    fn seeds_make_one_chain_per_arm_and_seed_on_one_split() {
        let spec =
            parse("name = \"q\"\nseeds = [3, 1]\narms = [\"replace\", \"mix:0.1\"]\n").unwrap();
        let arms = spec.arms().unwrap();
        let names: Vec<&str> = arms.iter().map(|a| a.experiment.as_str()).collect();
        assert_eq!(
            names,
            ["q-replace-s3", "q-replace-s1", "q-mix0.1-s3", "q-mix0.1-s1"]
        );
        assert_eq!(
            arms.iter().map(|a| a.seed).collect::<Vec<_>>(),
            [3, 1, 3, 1]
        );
        // The split is the data: one split seed for every chain, whatever seeds are listed.
        assert!(arms.iter().all(|a| a.split_seed() == 42));
        let more = parse("seeds = [1, 3, 9]\nsplit_seed = 5\narms = [\"replace\"]\n").unwrap();
        assert!(more.arms().unwrap().iter().all(|a| a.split_seed() == 5));
        // One seed keeps today's names and split.
        let one = parse("name = \"q\"\nseeds = [7]\narms = [\"replace\"]\n").unwrap();
        let a = &one.arms().unwrap()[0];
        assert_eq!(
            (a.experiment.as_str(), a.seed, a.split_seed),
            ("q-replace", 7, None)
        );
    }

    #[test]
    fn bad_arms_and_seeds_are_one_line_errors() {
        let cases = [
            ("seeds = []\narms = [\"replace\"]\n", "`seeds` is empty"),
            (
                "seeds = [1, 2, 1]\narms = [\"replace\"]\n",
                "seed 1 is listed twice",
            ),
            (
                "seed = 1\nseeds = [2]\narms = [\"replace\"]\n",
                "both `seed` and `seeds`",
            ),
            ("arms = []\n", "lists no arm"),
            (
                "arms = [\"replace\", \"replace\"]\n",
                "two arms are named `replace`",
            ),
            ("[arms.a]\ntemperature = 0.5\n", "[arms.a]: has no policy"),
            (
                "[arms.a]\npolicy = \"replace\"\nnum_beams = 5\n",
                "`num_beams` does not apply to ngram:3",
            ),
            (
                "[arms.a]\npolicy = \"replace\"\ntemprature = 5\n",
                "unknown key `temprature`",
            ),
            (
                "[arms.a]\npolicy = \"replace\"\n[arm.replace]\nepochs = 2.0\n",
                "goes with `arms = [...]`",
            ),
            ("[arms.a]\npolicy = \"fresh:1.5\"\n", "fresh:1.5"),
            ("[arms.a]\npolicy = \"fresh:0\"\n", "fresh:0"),
            ("[arms.\"a b\"]\npolicy = \"replace\"\n", "[arms.a b]"),
            (
                "[arms.a]\npolicy = \"replace\"\ntemperature = \"hot\"\n",
                "[arms.a]",
            ),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{text:?}: {e}");
        }
        // Neural overrides apply to neural models, over [gpt].
        let g = parse(
            "model = \"gpt:tiny\"\n[gpt]\nepochs = 3.0\n\
             [arms.b5]\npolicy = \"replace\"\nnum_beams = 5\n[arms.b1]\npolicy = \"replace\"\n",
        )
        .unwrap()
        .arms()
        .unwrap();
        let n = |i: usize| g[i].model.neural().cloned().unwrap();
        assert_eq!((n(0).num_beams, n(0).epochs), (5, 3.0));
        assert_eq!((n(1).num_beams, n(1).epochs), (1, 3.0));
    }

    #[test]
    fn every_shipped_spec_parses() {
        let specs = [
            (
                "quickstart.toml",
                include_str!("../../experiments/quickstart.toml"),
            ),
            (
                "gpt-small-cpu.toml",
                include_str!("../../experiments/gpt-small-cpu.toml"),
            ),
            (
                "decoding-arms.toml",
                include_str!("../../experiments/decoding-arms.toml"),
            ),
            (
                "fresh-vs-mix.toml",
                include_str!("../../experiments/fresh-vs-mix.toml"),
            ),
            (
                "shumailov2024-opt125m.toml",
                include_str!("../../experiments/shumailov2024-opt125m.toml"),
            ),
        ];
        for (name, text) in specs {
            let spec = Spec::parse(text, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            for chain in spec.arms().unwrap() {
                chain.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}
