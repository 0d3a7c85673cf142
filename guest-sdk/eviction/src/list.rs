//! Doubly linked LRU lists of keys over one slab of nodes (O(1) move, unlink and append).

/// No node.
pub(crate) const NIL: u32 = u32::MAX;

/// One cached key's place in the policy.
pub(crate) struct Node<K> {
    pub(crate) key: Option<K>,
    pub(crate) hash: u64,
    pub(crate) weight: u64,
    pub(crate) segment: crate::Segment,
    prev: u32,
    next: u32,
}

/// The ends and total weight of one list.
#[derive(Default, Clone, Copy)]
pub(crate) struct List {
    /// Least recent end.
    pub(crate) head: u32,
    /// Most recent end.
    pub(crate) tail: u32,
    pub(crate) weight: u64,
    pub(crate) len: usize,
}

impl List {
    pub(crate) const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        weight: 0,
        len: 0,
    };

    pub(crate) fn first(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }
}

/// Nodes by index; freed slots are reused.
pub(crate) struct Slab<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
}

impl<K> Slab<K> {
    pub(crate) fn new() -> Self {
        Slab {
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn node(&self, i: u32) -> &Node<K> {
        &self.nodes[i as usize]
    }

    pub(crate) fn node_mut(&mut self, i: u32) -> &mut Node<K> {
        &mut self.nodes[i as usize]
    }

    /// The node after `i` (towards the most recent end), if any.
    pub(crate) fn next(&self, i: u32) -> Option<u32> {
        let n = self.nodes[i as usize].next;
        (n != NIL).then_some(n)
    }

    pub(crate) fn alloc(&mut self, key: K, hash: u64, weight: u64, segment: crate::Segment) -> u32 {
        let node = Node {
            key: Some(key),
            hash,
            weight,
            segment,
            prev: NIL,
            next: NIL,
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Frees an unlinked node and returns its key.
    pub(crate) fn release(&mut self, i: u32) -> Option<K> {
        self.free.push(i);
        self.nodes[i as usize].key.take()
    }

    /// Appends `i` at the most recent end of `list`.
    pub(crate) fn push_back(&mut self, list: &mut List, i: u32) {
        let tail = list.tail;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = tail;
            n.next = NIL;
            list.weight += n.weight;
        }
        if tail == NIL {
            list.head = i;
        } else {
            self.nodes[tail as usize].next = i;
        }
        list.tail = i;
        list.len += 1;
    }

    /// Prepends `i` at the least recent end of `list`.
    pub(crate) fn push_front(&mut self, list: &mut List, i: u32) {
        let head = list.head;
        {
            let n = &mut self.nodes[i as usize];
            n.prev = NIL;
            n.next = head;
            list.weight += n.weight;
        }
        if head == NIL {
            list.tail = i;
        } else {
            self.nodes[head as usize].prev = i;
        }
        list.head = i;
        list.len += 1;
    }

    /// Removes `i` from `list`.
    pub(crate) fn unlink(&mut self, list: &mut List, i: u32) {
        let (prev, next, weight) = {
            let n = &self.nodes[i as usize];
            (n.prev, n.next, n.weight)
        };
        if prev == NIL {
            list.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = NIL;
        list.weight -= weight;
        list.len -= 1;
    }

    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.free.clear();
    }
}
