//! Named anomaly rules run before the search, so common violations get a precise explanation.
//!
//! Every rule is sound on its own: it fires only on histories that no linearization of the
//! register-with-revisions model can explain (revisions are unique and strictly increase, and
//! an op completed before another was invoked precedes it). The search stays the final judge;
//! these rules only name the anomaly when they recognise it. Plain registers (no revisions) have
//! their own, smaller set of rules ([`diagnose_plain`]).

use std::collections::{HashMap, HashSet};

use crate::history::{Op, OpKind, OpResult, Outcome};

use super::{OpRef, Violation, ViolationKind};

type Indexed<'a> = (usize, &'a Op);

/// Returns the first named anomaly on one key's ops (with their history indexes), if any.
pub(crate) fn diagnose(key: &str, ops: &[Indexed<'_>]) -> Option<Violation> {
    Rules::new(key, ops).and_then(|r| r.run(ops)).err()
}

/// Returns the first named anomaly on one plain register's ops, if any: a read of a value no
/// op wrote, whose only writes failed, or whose writes were all invoked after the read
/// completed; a read of a value that an acknowledged write or delete had replaced; a read of
/// absence after an acknowledged write that no delete could have followed.
///
/// Sound for any values; precise for unique ones (every workload writes each value once).
pub(crate) fn diagnose_plain(key: &str, ops: &[Indexed<'_>]) -> Option<Violation> {
    let mut writers: HashMap<&str, Vec<Indexed<'_>>> = HashMap::new();
    // Ok writes and deletes: each replaces whatever was there before it was invoked.
    let mut assigns: Vec<Indexed<'_>> = Vec::new();
    // Deletes that may have applied (ok or info).
    let mut deletes: Vec<Indexed<'_>> = Vec::new();
    for &(i, op) in ops {
        if let Some(v) = op.written_value() {
            writers.entry(v).or_default().push((i, op));
        }
        let assigns_key = matches!(op.kind, OpKind::Write { .. } | OpKind::Delete);
        if assigns_key && matches!(op.outcome, Outcome::Ok(_)) {
            assigns.push((i, op));
        }
        if op.kind == OpKind::Delete && op.outcome != Outcome::Fail {
            deletes.push((i, op));
        }
    }
    let mut reads: Vec<Indexed<'_>> = ops
        .iter()
        .copied()
        .filter(|(_, op)| op.read_value().is_some())
        .collect();
    reads.sort_unstable_by_key(|&(i, op)| (op.invoke_ns, i));
    for (i, op) in reads {
        let Some(done) = op.complete_ns else { continue };
        let found = op.read_value().flatten();
        let result = match found {
            Some(value) => plain_value_read(key, (i, op), value, done, &writers, &assigns),
            None => plain_absent_read(key, (i, op), done, &assigns, &deletes),
        };
        if let Err(v) = result {
            return Some(v);
        }
    }
    None
}

/// The rules for an ok read that found `value` (see [`diagnose_plain`]).
fn plain_value_read<'a>(
    key: &str,
    read: Indexed<'a>,
    value: &str,
    done: u64,
    writers: &HashMap<&str, Vec<Indexed<'a>>>,
    assigns: &[Indexed<'a>],
) -> Result<(), Violation> {
    let (i, op) = read;
    let all = writers.get(value).map_or(&[][..], Vec::as_slice);
    let live: Vec<Indexed<'a>> = all
        .iter()
        .copied()
        .filter(|(_, w)| w.outcome != Outcome::Fail)
        .collect();
    if all.is_empty() {
        let msg =
            format!("read of a never-written value: #{i} read {value:?}, a value no op wrote");
        return Err(violation(
            key,
            ViolationKind::NeverWrittenValue,
            msg,
            &[read],
        ));
    }
    if live.is_empty() {
        let (j, w) = all[0];
        let msg = format!(
            "failed write visible: #{i} read {value:?}, but its only write (#{j}) failed, which \
             means it was known not applied"
        );
        return Err(violation(
            key,
            ViolationKind::FailedWriteVisible,
            msg,
            &[read, (j, w)],
        ));
    }
    if live.iter().all(|(_, w)| w.invoke_ns > done) {
        let (j, w) = live[0];
        let msg = format!(
            "read from the future: #{i} read {value:?}, written by #{j}, which was invoked only \
             after the read completed"
        );
        return Err(violation(
            key,
            ViolationKind::FutureRead,
            msg,
            &[read, (j, w)],
        ));
    }
    // With one possible writer that completed, any acknowledged write or delete that ran
    // entirely between that write's completion and the read's invocation replaced the value.
    let [(j, w)] = live[..] else { return Ok(()) };
    // An info write's completion is when the client gave up: it may take effect later.
    let Some(written) = w
        .complete_ns
        .filter(|_| matches!(w.outcome, Outcome::Ok(_)))
    else {
        return Ok(());
    };
    let replaced = assigns
        .iter()
        .copied()
        .find(|(_, a)| a.invoke_ns > written && a.complete_ns.is_some_and(|c| c < op.invoke_ns));
    if let Some((k, a)) = replaced {
        let msg = format!(
            "stale read: #{i} invoked at {} ns returned {value:?}, written by #{j} (done at \
             {written} ns), but #{k} ({}) ran entirely in between",
            op.invoke_ns, a
        );
        return Err(violation(
            key,
            ViolationKind::StaleRead,
            msg,
            &[read, (k, a), (j, w)],
        ));
    }
    Ok(())
}

/// The rule for an ok read that found the key absent (see [`diagnose_plain`]).
fn plain_absent_read<'a>(
    key: &str,
    read: Indexed<'a>,
    done: u64,
    assigns: &[Indexed<'a>],
    deletes: &[Indexed<'a>],
) -> Result<(), Violation> {
    let (i, op) = read;
    // The acknowledged write invoked last among those done before the read began: a delete
    // must have taken effect after it (so was not done before it was invoked) and before the
    // read ended (so was invoked before that).
    let latest = assigns
        .iter()
        .copied()
        .filter(|(_, a)| matches!(a.kind, OpKind::Write { .. }))
        .filter(|(_, a)| a.complete_ns.is_some_and(|c| c < op.invoke_ns))
        .max_by_key(|&(k, a)| (a.invoke_ns, k));
    let Some((j, w)) = latest else { return Ok(()) };
    let fits = |d: &Op| {
        let finished = d
            .complete_ns
            .filter(|_| matches!(d.outcome, Outcome::Ok(_)));
        d.invoke_ns <= done && finished.is_none_or(|c| c >= w.invoke_ns)
    };
    if deletes.iter().any(|(_, d)| fits(d)) {
        return Ok(());
    }
    let msg = format!(
        "stale read: #{i} invoked at {} ns found the key absent, but #{j} had written {:?} by \
         then and no delete could have followed it",
        op.invoke_ns,
        w.written_value().unwrap_or_default()
    );
    Err(violation(
        key,
        ViolationKind::StaleRead,
        msg,
        &[read, (j, w)],
    ))
}

struct Rules<'a> {
    key: &'a str,
    /// Ok writes and cas by the revision they created.
    produced: HashMap<u64, Indexed<'a>>,
    /// Every write and cas (any outcome) by the value it writes.
    writers: HashMap<&'a str, Vec<Indexed<'a>>>,
    /// Whether an info write or cas exists: it could have created any unseen revision.
    any_info_write: bool,
    /// Revisions some read returned or some cas expected.
    observed: HashSet<u64>,
    /// Ok writes and cas sorted by completion, each with the highest revision created by it
    /// or an earlier-completed one.
    completed: Vec<(u64, u64, Indexed<'a>)>,
}

impl<'a> Rules<'a> {
    fn new(key: &'a str, ops: &[Indexed<'a>]) -> Result<Self, Violation> {
        let mut rules = Rules {
            key,
            produced: HashMap::new(),
            writers: HashMap::new(),
            any_info_write: false,
            observed: HashSet::new(),
            completed: Vec::new(),
        };
        for &(i, op) in ops {
            if let Some(r) = op.written_revision() {
                if let Some(&(j, first)) = rules.produced.get(&r) {
                    return Err(rules.violation(
                        ViolationKind::RevisionReused,
                        format!("revision reused: #{j} and #{i} were both acknowledged with revision {r}"),
                        &[(j, first), (i, op)],
                    ));
                }
                rules.produced.insert(r, (i, op));
                if let Some(done) = op.complete_ns {
                    rules.completed.push((done, r, (i, op)));
                }
            }
            if let Some(v) = op.written_value() {
                rules.writers.entry(v).or_default().push((i, op));
                rules.any_info_write |= op.outcome == Outcome::Info;
            }
            if let Some(Some(v)) = op.read_result() {
                rules.observed.insert(v.revision);
            }
            if let OpKind::Cas {
                expected: Some(e), ..
            } = op.kind
            {
                rules.observed.insert(e);
            }
        }
        rules
            .completed
            .sort_unstable_by_key(|&(done, _, (i, _))| (done, i));
        let mut best: Option<(u64, Indexed<'a>)> = None;
        for entry in &mut rules.completed {
            if best.is_none_or(|(r, _)| entry.1 > r) {
                best = Some((entry.1, entry.2));
            }
            if let Some((r, w)) = best {
                (entry.1, entry.2) = (r, w);
            }
        }
        Ok(rules)
    }

    fn run(&self, ops: &[Indexed<'a>]) -> Result<(), Violation> {
        let mut order: Vec<Indexed<'a>> = ops.to_vec();
        order.sort_unstable_by_key(|&(i, op)| (op.invoke_ns, i));
        for (i, op) in order {
            self.check_value(i, op)?;
            self.check_real_time(i, op)?;
        }
        Ok(())
    }

    /// A read must return a value some write could have created at that revision.
    fn check_value(&self, i: usize, op: &'a Op) -> Result<(), Violation> {
        if let OpKind::Cas {
            expected: Some(e), ..
        } = op.kind
        {
            if matches!(op.outcome, Outcome::Ok(_))
                && !self.produced.contains_key(&e)
                && !self.any_info_write
            {
                let msg = format!(
                    "cas succeeded with an unknown revision: #{i} expected revision {e}, \
                     which no write on this key created"
                );
                return Err(self.violation(ViolationKind::UnknownCasRevision, msg, &[(i, op)]));
            }
        }
        let Some(Some(read)) = op.read_result() else {
            return Ok(());
        };
        let (value, r) = (read.value.as_str(), read.revision);
        if let Some(&(j, w)) = self.produced.get(&r) {
            if w.written_value() != Some(value) {
                let msg = format!(
                    "value does not match its revision: #{i} read {value:?}@{r}, but #{j} \
                     created revision {r} with {:?}",
                    w.written_value().unwrap_or_default()
                );
                return Err(self.violation(ViolationKind::ValueMismatch, msg, &[(i, op), (j, w)]));
            }
            if op.complete_ns.is_some_and(|done| w.invoke_ns > done) {
                let msg = format!(
                    "read from the future: #{i} read {value:?}@{r}, created by #{j}, which was \
                     invoked only after the read completed"
                );
                return Err(self.violation(ViolationKind::FutureRead, msg, &[(i, op), (j, w)]));
            }
            return Ok(());
        }
        let writers = self.writers.get(value).map_or(&[][..], Vec::as_slice);
        let with =
            |o: fn(&Outcome) -> bool| writers.iter().copied().filter(move |(_, w)| o(&w.outcome));
        if with(|o| *o == Outcome::Info).next().is_some() {
            return Ok(());
        }
        let mut involved = vec![(i, op)];
        let (kind, msg) = if let Some((j, w)) = with(|o| matches!(o, Outcome::Ok(_))).next() {
            involved.push((j, w));
            let created = w.written_revision().unwrap_or_default();
            let msg = format!(
                "write took effect twice: #{i} read {value:?}@{r}, but the only acknowledged \
                 write of {value:?} (#{j}) created revision {created}, and no other op wrote it"
            );
            (ViolationKind::DuplicateEffect, msg)
        } else if let Some((j, w)) = with(|o| *o == Outcome::Fail).next() {
            involved.push((j, w));
            let msg = format!(
                "failed write visible: #{i} read {value:?}@{r}, but its only write (#{j}) \
                 failed, which means it was known not applied"
            );
            (ViolationKind::FailedWriteVisible, msg)
        } else {
            let msg = format!(
                "read of a never-written value: #{i} read {value:?}@{r}, a value no op wrote"
            );
            (ViolationKind::NeverWrittenValue, msg)
        };
        Err(self.violation(kind, msg, &involved))
    }

    /// An op invoked after a write completed must see that write's revision or a later one.
    fn check_real_time(&self, i: usize, op: &'a Op) -> Result<(), Violation> {
        let n = self
            .completed
            .partition_point(|&(done, ..)| done < op.invoke_ns);
        let Some(&(done, floor, (j, w))) = n.checked_sub(1).and_then(|k| self.completed.get(k))
        else {
            return Ok(());
        };
        let earlier = format!("#{j} had completed at {done} ns creating revision {floor}");
        let involved = [(i, op), (j, w)];
        match (&op.kind, &op.outcome) {
            (OpKind::Read, Outcome::Ok(OpResult::Read(found))) => {
                let seen = found.as_ref().map(|v| v.revision);
                if seen >= Some(floor) {
                    return Ok(());
                }
                let seen = found.as_ref().map_or("absent".to_owned(), |v| {
                    format!("{:?}@{}", v.value, v.revision)
                });
                let (kind, msg) = if self.observed.contains(&floor) {
                    let msg = format!(
                        "stale read: #{i} invoked at {} ns returned {seen}, but {earlier}",
                        op.invoke_ns
                    );
                    (ViolationKind::StaleRead, msg)
                } else {
                    let msg = format!(
                        "lost write: {earlier}, yet #{i} invoked later at {} ns returned {seen}, \
                         and no op ever observed revision {floor}",
                        op.invoke_ns
                    );
                    (ViolationKind::LostWrite, msg)
                };
                Err(self.violation(kind, msg, &involved))
            }
            (OpKind::Cas { expected, .. }, Outcome::Ok(_)) if *expected < Some(floor) => {
                let expected = expected.map_or("absent".to_owned(), |e| format!("revision {e}"));
                let msg = format!(
                    "cas succeeded with a stale revision: #{i} expected {expected} when invoked \
                     at {} ns, but {earlier}",
                    op.invoke_ns
                );
                Err(self.violation(ViolationKind::StaleCas, msg, &involved))
            }
            (_, Outcome::Ok(OpResult::Written { revision })) if *revision <= floor => {
                let msg = format!(
                    "revisions went backwards: #{i} created revision {revision}, but {earlier} \
                     before #{i} was invoked"
                );
                Err(self.violation(ViolationKind::RevisionsBackwards, msg, &involved))
            }
            _ => Ok(()),
        }
    }

    fn violation(
        &self,
        kind: ViolationKind,
        description: String,
        ops: &[Indexed<'_>],
    ) -> Violation {
        violation(self.key, kind, description, ops)
    }
}

fn violation(
    key: &str,
    kind: ViolationKind,
    description: String,
    ops: &[Indexed<'_>],
) -> Violation {
    Violation {
        key: key.to_owned(),
        kind,
        description,
        ops: ops
            .iter()
            .map(|&(index, op)| OpRef {
                index,
                op: op.clone(),
            })
            .collect(),
    }
}
