/**
 * Items grouped by a key, in the order each key first appears (a Map keeps insertion order; a plain
 * record would move numeric-looking keys such as a mailbox named "2024" to the front), so that rule
 * runs and undos act on accounts and mailboxes in a stable order.
 */
export const groupBy = <A>(items: ReadonlyArray<A>, key: (item: A) => string): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group === undefined) groups.set(k, [item])
    else group.push(item)
  }
  return groups
}
