//! The search's timeline: call and return entries of the required ops in a doubly linked list.
//!
//! Sorted by time, calls before returns at equal times (touching intervals count as
//! concurrent). Linearizing an op lifts both its entries out; backtracking puts them back in
//! reverse order (dancing links), so both are O(1).

use super::register::ModelOp;

/// The head sentinel's node.
pub(crate) const HEAD: usize = 0;
/// "No node": the end of the list.
pub(crate) const NIL: usize = usize::MAX;

/// Call/return entries as a doubly linked list over arrays; node 0 is the head sentinel.
pub(crate) struct Timeline {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The model op of each node.
    op: Vec<usize>,
    /// For a call node, its return node; `NIL` for return nodes and the head.
    ret: Vec<usize>,
    /// Each node's time (call: invocation, return: completion).
    time: Vec<u64>,
}

impl Timeline {
    /// Builds the list from the required ops (those with a completion) among `ops`.
    pub fn new(ops: &[ModelOp]) -> Self {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            if let (true, Some(done)) = (op.required, op.complete_ns) {
                events.push((op.invoke_ns, false, i));
                events.push((done, true, i));
            }
        }
        events.sort_unstable();
        let n = events.len() + 1;
        let mut list = Timeline {
            next: (1..=n).map(|i| if i == n { NIL } else { i }).collect(),
            prev: (0..n).map(|i| i.wrapping_sub(1)).collect(),
            op: vec![0; n],
            ret: vec![NIL; n],
            time: vec![0; n],
        };
        let mut call_node = vec![NIL; ops.len()];
        for (k, &(time, is_return, i)) in events.iter().enumerate() {
            let node = k + 1;
            list.op[node] = i;
            list.time[node] = time;
            if is_return {
                list.ret[call_node[i]] = node;
            } else {
                call_node[i] = node;
            }
        }
        list
    }

    /// The node after `node` (`HEAD` gives the first).
    pub fn next(&self, node: usize) -> usize {
        self.next[node]
    }

    /// The model op of a node.
    pub fn op(&self, node: usize) -> usize {
        self.op[node]
    }

    /// The node's time; `NIL` is at the end of time.
    pub fn time(&self, node: usize) -> u64 {
        self.time.get(node).copied().unwrap_or(u64::MAX)
    }

    /// Whether `node` is a call entry (not a return, the head or `NIL`).
    pub fn is_call(&self, node: usize) -> bool {
        self.ret.get(node).is_some_and(|&r| r != NIL)
    }

    /// Removes a call node and its return node.
    pub fn lift(&mut self, call: usize) {
        let ret = self.ret[call];
        // A call's successor always exists: its own return comes after it.
        self.next[self.prev[call]] = self.next[call];
        self.prev[self.next[call]] = self.prev[call];
        self.next[self.prev[ret]] = self.next[ret];
        if self.next[ret] != NIL {
            self.prev[self.next[ret]] = self.prev[ret];
        }
    }

    /// Undoes [`Timeline::lift`]; valid because lifts are undone in reverse order.
    pub fn unlift(&mut self, call: usize) {
        let ret = self.ret[call];
        self.next[self.prev[ret]] = ret;
        if self.next[ret] != NIL {
            self.prev[self.next[ret]] = ret;
        }
        self.next[self.prev[call]] = call;
        self.prev[self.next[call]] = call;
    }
}
