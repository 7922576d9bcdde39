//! Test-only history generator: concurrent clients run against a sequential register store.
//!
//! Every op takes effect atomically at one instant inside its real-time interval (or, for an
//! info op, at any later instant or never), so every generated history is linearizable by
//! construction. A script of `(process, roll, arg)` bytes drives all choices, so proptest can
//! generate and shrink it.

use std::collections::HashMap;

use crate::history::{History, Invocation, Op, OpKind, OpResult, Outcome, Versioned};

/// One scripted step: which process acts, a dice roll choosing what happens, and an argument.
pub(crate) type Step = (u8, u8, u8);

enum Client {
    Idle,
    /// Sent, not yet taken effect.
    Invoked(Invocation),
    /// Took effect with this outcome; the answer is on its way back.
    Applied(Invocation, Outcome),
}

struct Sim {
    clock: u64,
    last_revision: u64,
    keys: usize,
    registers: HashMap<String, Versioned>,
    clients: Vec<(u64, Client)>,
    /// Timed-out ops that may still take effect later, or never.
    limbo: Vec<Invocation>,
    next_value: u64,
    next_process: u64,
    ops: Vec<Op>,
}

/// Runs `script` with `processes` concurrent clients over `keys` keys.
pub(crate) fn simulate(script: &[Step], processes: usize, keys: usize) -> History {
    let mut sim = Sim {
        clock: 0,
        last_revision: 0,
        keys: keys.max(1),
        registers: HashMap::new(),
        clients: (0..processes.max(1) as u64)
            .map(|p| (p, Client::Idle))
            .collect(),
        limbo: Vec::new(),
        next_value: 0,
        next_process: processes.max(1) as u64,
        ops: Vec::new(),
    };
    for &step in script {
        sim.step(step);
    }
    sim.finish();
    History::new(sim.ops)
}

impl Sim {
    fn tick(&mut self) -> u64 {
        self.clock += 10;
        self.clock
    }

    fn step(&mut self, (process, roll, arg): Step) {
        // Occasionally a timed-out op takes effect long after its client gave up.
        if roll < 12 && !self.limbo.is_empty() {
            let inv = self.limbo.swap_remove(arg as usize % self.limbo.len());
            if roll < 8 {
                self.apply(&inv);
            }
            return;
        }
        let slot = process as usize % self.clients.len();
        let now = self.tick();
        let (pid, client) = std::mem::replace(&mut self.clients[slot], (0, Client::Idle));
        let next = match client {
            Client::Idle => Client::Invoked(self.invoke(pid, roll, arg, now)),
            Client::Invoked(inv) if roll < 40 => {
                // Timeout before taking effect: info, and a fresh process takes over.
                let gave_up = (roll % 2 == 0).then_some(now);
                self.ops.push(inv.clone().info(gave_up));
                self.limbo.push(inv);
                return self.retire(slot);
            }
            Client::Invoked(inv) if roll < 55 && !matches!(inv.kind, OpKind::Read) => {
                // Refused before taking effect (say, no leader): known not applied.
                self.ops.push(inv.fail(now));
                Client::Idle
            }
            Client::Invoked(inv) => {
                let outcome = self.apply(&inv);
                Client::Applied(inv, outcome)
            }
            Client::Applied(inv, _) if roll < 25 => {
                // Took effect, but the answer was lost: info.
                self.ops.push(inv.info(None));
                return self.retire(slot);
            }
            Client::Applied(inv, outcome) => {
                self.ops.push(complete(inv, outcome, now));
                Client::Idle
            }
        };
        self.clients[slot] = (pid, next);
    }

    fn retire(&mut self, slot: usize) {
        self.clients[slot] = (self.next_process, Client::Idle);
        self.next_process += 1;
    }

    fn invoke(&mut self, pid: u64, roll: u8, arg: u8, now: u64) -> Invocation {
        let key = format!("k{}", arg as usize % self.keys);
        self.next_value += 1;
        let value = format!("v{}", self.next_value);
        let current = self.registers.get(&key).map(|v| v.revision);
        let kind = match roll % 10 {
            0..=3 => OpKind::Read,
            4..=6 => OpKind::Write { value },
            // Expect the current revision (likely to succeed), absent, or a stale guess.
            _ => OpKind::Cas {
                expected: match arg % 4 {
                    0 | 1 => current,
                    2 => None,
                    _ => current.map(|r| r.saturating_sub(u64::from(arg % 3))),
                },
                value,
            },
        };
        Op::invoke(pid, key, kind, now)
    }

    /// Takes effect atomically now against the sequential register.
    fn apply(&mut self, inv: &Invocation) -> Outcome {
        let current = self.registers.get(&inv.key).cloned();
        let value = match &inv.kind {
            OpKind::Read => return Outcome::Ok(OpResult::Read(current)),
            OpKind::Cas { expected, .. } if *expected != current.as_ref().map(|v| v.revision) => {
                return Outcome::Fail;
            }
            OpKind::Write { value } | OpKind::Cas { value, .. } => value.clone(),
            // The simulated register has revisions and no tokens: never generated.
            OpKind::Delete | OpKind::Use => return Outcome::Fail,
        };
        // Other keys' writes also consume log indexes, so revisions per key have gaps.
        self.last_revision += 1 + self.clock % 3;
        let revision = self.last_revision;
        self.registers
            .insert(inv.key.clone(), Versioned { value, revision });
        Outcome::Ok(OpResult::Written { revision })
    }

    fn finish(&mut self) {
        for slot in 0..self.clients.len() {
            let now = self.tick();
            let (_, client) = std::mem::replace(&mut self.clients[slot], (0, Client::Idle));
            match client {
                Client::Idle => {}
                Client::Invoked(inv) => self.ops.push(inv.info(None)),
                Client::Applied(inv, outcome) => self.ops.push(complete(inv, outcome, now)),
            }
        }
    }
}

fn complete(inv: Invocation, outcome: Outcome, now: u64) -> Op {
    match outcome {
        Outcome::Ok(result) => inv.ok(result, now),
        Outcome::Fail => inv.fail(now),
        Outcome::Info => inv.info(None),
    }
}

/// A small deterministic generator for large scripts (xorshift64*), seeded per test.
pub(crate) fn script(seed: u64, len: usize) -> Vec<Step> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            (r[0], r[1], r[2])
        })
        .collect()
}
