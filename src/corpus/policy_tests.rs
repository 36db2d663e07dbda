//! Tests of `policy.rs`, kept apart so the module itself stays short.
use super::*;

/// `n` documents `<prefix><i>`, each two lines of five words (10 tokens).
fn corpus(prefix: &str, n: usize) -> Corpus {
    let doc = |i| {
        Document::new(
            format!("{prefix}{i}"),
            format!("{prefix} a b c {i}\nd e f g h"),
        )
    };
    Corpus::new((0..n).map(doc).collect())
}

fn tokens(c: &Corpus) -> usize {
    c.stats().tokens
}

type Out = (Corpus, Vec<(String, usize, usize)>);

/// Composes from a human corpus and three generations of text, 100 documents (1000 tokens)
/// each; returns the corpus and the shares as (name, documents, tokens).
fn run(p: &str, g: u32, budget: Option<usize>, seed: u64) -> Result<Out> {
    let cs: Vec<Corpus> = ["h", "s0-", "s1-", "s2-"]
        .iter()
        .map(|p| corpus(p, 100))
        .collect();
    let named = |i: usize, name: &str| NamedCorpus {
        name: name.into(),
        sha256: format!("sha-{name}"),
        corpus: &cs[i],
    };
    let syn: Vec<NamedCorpus> = (1..4).map(|i| named(i, &format!("syn{}", i - 1))).collect();
    let (c, shares) = compose(&p.parse()?, g, &named(0, "human"), &syn, budget, seed)?;
    assert!(shares
        .iter()
        .all(|s| s.sha256 == format!("sha-{}", s.corpus)));
    let shares = shares
        .into_iter()
        .map(|s| (s.corpus, s.documents, s.tokens))
        .collect();
    Ok((c, shares))
}

fn share(name: &str, documents: usize, tokens: usize) -> (String, usize, usize) {
    (name.to_string(), documents, tokens)
}

#[test]
fn parse_display_slug_and_serde_round_trip() {
    for (s, slug) in [
        ("replace", "replace"),
        ("accumulate", "accumulate"),
        ("mix:0.1", "mix0.1"),
        ("mix:0.25", "mix0.25"),
        ("accumulate-subsample", "accumulate-subsample"),
    ] {
        let p: Policy = s.parse().unwrap();
        assert_eq!((p.to_string(), p.slug()), (s.to_string(), slug.to_string()));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
    }
    assert_eq!(" mix:1e-1 ".parse::<Policy>().unwrap(), Policy::Mix(0.1));
    assert_eq!(Policy::Mix(0.1).to_string(), "mix:0.1");
}

#[test]
fn bad_policy_strings_are_errors() {
    for s in ["", "Replace", "mixture", "keep", "accumulate-all"] {
        let r = s.parse::<Policy>();
        assert!(
            matches!(r, Err(Error::UnknownPolicy { name }) if name == s),
            "{s}"
        );
    }
    for s in [
        "mix", "mix:", "mix:0", "mix:1", "mix:1.5", "mix:-0.1", "mix:x", "mix:nan",
    ] {
        let e = s.parse::<Policy>().unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{s}");
        assert_eq!(
            e.hint(),
            "write mix:<fraction of real data kept>, e.g. mix:0.1"
        );
    }
    let err = serde_json::from_str::<Policy>("\"bogus\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("unknown corpus policy `bogus` (policies are replace"),
        "{err}"
    );
}

#[test]
fn subsample_takes_whole_documents_then_cuts_one_at_a_line() {
    let c = corpus("d", 20);
    let s = subsample(&c, 100, &mut Rng::new(1));
    assert_eq!((s.len(), tokens(&s)), (10, 100));
    let pos: Vec<usize> = s
        .docs
        .iter()
        .map(|d| c.docs.iter().position(|e| e == d).unwrap())
        .collect();
    assert!(
        pos.windows(2).all(|w| w[0] < w[1]),
        "whole documents in corpus order: {pos:?}"
    );

    // 103 tokens: ten documents, then the crossing one keeps its first line only (5 > 3,
    // but at least one line), so the total is within one line of the budget.
    let s = subsample(&c, 103, &mut Rng::new(1));
    assert_eq!((s.len(), tokens(&s)), (11, 105));
    let cut: Vec<&Document> = s.docs.iter().filter(|d| d.words() == 5).collect();
    let orig = c.docs.iter().find(|d| d.id == cut[0].id).unwrap();
    assert_eq!(
        (cut.len(), cut[0].text.as_str()),
        (1, orig.text.lines().next().unwrap())
    );
    // 107: the crossing document's first line (5) fits, its second (5 > 2) does not.
    assert_eq!(tokens(&subsample(&c, 107, &mut Rng::new(1))), 105);
    assert_eq!(subsample(&c, 1000, &mut Rng::new(1)), c);
    assert_eq!(subsample(&c, 0, &mut Rng::new(1)), Corpus::default());
    let draw = |seed| subsample(&c, 50, &mut Rng::new(seed));
    assert_eq!(draw(9), draw(9));
    assert_ne!(draw(9), draw(10));
}

#[test]
fn generation_zero_is_the_human_corpus_for_every_policy() {
    let human = corpus("h", 100);
    let mut capped = Vec::new();
    for p in ["replace", "accumulate", "mix:0.1", "accumulate-subsample"] {
        assert_eq!(
            run(p, 0, None, 5).unwrap(),
            (human.clone(), vec![share("human", 100, 1000)])
        );
        let (c, shares) = run(p, 0, Some(300), 5).unwrap();
        assert_eq!(shares, [share("human", 30, 300)]);
        capped.push(c);
    }
    assert!(
        capped.windows(2).all(|w| w[0] == w[1]),
        "arms share generation 0"
    );
}

#[test]
fn replace_is_the_previous_generation() {
    let (c, shares) = run("replace", 2, None, 5).unwrap();
    for (got, want) in c.docs.iter().zip(&corpus("s1-", 100).docs) {
        assert_eq!(
            (got.id.clone(), &got.text),
            (format!("g01/{}", want.id), &want.text)
        );
    }
    assert_eq!((c.len(), shares), (100, vec![share("syn1", 100, 1000)]));
    let (c, shares) = run("replace", 2, Some(250), 5).unwrap();
    assert_eq!((tokens(&c), shares), (250, vec![share("syn1", 25, 250)]));
}

#[test]
fn accumulate_adds_up_and_budget_caps() {
    let (c, shares) = run("accumulate", 3, None, 5).unwrap();
    assert_eq!((c.len(), tokens(&c)), (400, 4000));
    let want = ["human", "syn0", "syn1", "syn2"].map(|n| share(n, 100, 1000));
    assert_eq!(shares, want);
    let ids = [0, 100, 399].map(|i| c.docs[i].id.as_str());
    assert_eq!(ids, ["h0", "g00/s0-0", "g02/s2-99"]);

    let (c, shares) = run("accumulate", 3, Some(1203), 5).unwrap();
    assert_eq!(tokens(&c), 1205, "within one line of the budget");
    assert_eq!(
        shares
            .iter()
            .map(|s| (s.1, s.2))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)),
        (c.len(), 1205)
    );
}

#[test]
fn mix_keeps_the_real_fraction_of_a_fixed_budget() {
    let (c, shares) = run("mix:0.1", 2, None, 5).unwrap();
    assert_eq!(shares, [share("human", 10, 100), share("syn1", 90, 900)]);
    assert_eq!(tokens(&c), 1000);
    assert!(c.docs[..10].iter().all(|d| d.id.starts_with('h')));
    assert!(c.docs[10..].iter().all(|d| d.id.starts_with("g01/s1-")));

    let (_, shares) = run("mix:0.25", 1, Some(400), 5).unwrap();
    assert_eq!(shares, [share("human", 10, 100), share("syn0", 30, 300)]);
    // A budget above the human size does not grow the mix.
    assert_eq!(tokens(&run("mix:0.5", 1, Some(5000), 5).unwrap().0), 1000);
}

#[test]
fn accumulate_subsample_draws_the_pool_down_to_the_human_size() {
    let (c, shares) = run("accumulate-subsample", 3, None, 5).unwrap();
    assert_eq!((c.len(), tokens(&c), shares.len()), (100, 1000, 4));
    assert_eq!(shares.iter().map(|s| s.2).sum::<usize>(), 1000);
    assert!(
        shares.iter().all(|s| s.1 > 5),
        "every parent drawn from: {shares:?}"
    );
    let (c, _) = run("accumulate-subsample", 3, Some(333), 5).unwrap();
    assert_eq!(tokens(&c), 335);
}

#[test]
fn composing_is_deterministic_and_seeded() {
    for p in ["mix:0.1", "accumulate-subsample", "accumulate"] {
        assert_eq!(
            run(p, 2, Some(700), 5).unwrap(),
            run(p, 2, Some(700), 5).unwrap()
        );
        assert_ne!(
            run(p, 2, Some(700), 5).unwrap().0,
            run(p, 2, Some(700), 6).unwrap().0
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let err = run("replace", 4, None, 5).unwrap_err().to_string();
    assert_eq!(
        err,
        "generation 4 trains on text from generations 0..4, but only 3 exist"
    );
    assert!(matches!(
        run("accumulate", 1, Some(0), 5),
        Err(Error::Invalid { .. })
    ));

    let named = |c| NamedCorpus {
        name: "c".into(),
        sha256: "s".into(),
        corpus: c,
    };
    let syn = corpus("s0-", 3);
    let clash = Corpus::new(vec![Document::new("g00/s0-1", "human text that clashes")]);
    let err = compose(
        &Policy::Accumulate,
        1,
        &named(&clash),
        &[named(&syn)],
        None,
        1,
    );
    let err = err.unwrap_err().to_string();
    assert!(
        err.starts_with("document id `g00/s0-1` appears twice"),
        "{err}"
    );

    let empty = Corpus::new(vec![Document::new("x", " ")]);
    let r = compose(&Policy::Replace, 1, &named(&syn), &[named(&empty)], None, 1);
    assert!(matches!(r, Err(Error::EmptyCorpus { .. })));
}

#[test]
fn fresh_takes_new_human_documents_never_in_generation_0s_draw() {
    // Generation 0 of every policy draws 300 of the 1000 human tokens (30 documents).
    let (gen0, _) = run("fresh:0.2", 0, Some(300), 4).unwrap();
    let gen0_ids: HashSet<String> = gen0.docs.iter().map(|d| d.id.clone()).collect();
    assert_eq!(
        gen0_ids,
        run("replace", 0, Some(300), 4)
            .unwrap()
            .0
            .docs
            .iter()
            .map(|d| d.id.clone())
            .collect()
    );
    let mut seen = HashSet::new();
    for g in 1..=3 {
        let (c, shares) = run("fresh:0.2", g, Some(300), 4).unwrap();
        // 20% of 300: 60 human tokens (6 fresh documents), the rest the previous generation's.
        assert_eq!(shares[0].1, 6, "generation {g}: {shares:?}");
        assert_eq!(tokens(&c), 300);
        for d in c.docs.iter().filter(|d| d.id.starts_with('h')) {
            assert!(
                !gen0_ids.contains(&d.id),
                "generation 0's {} came back",
                d.id
            );
            assert!(seen.insert(d.id.clone()), "{} used twice", d.id);
        }
    }
}
