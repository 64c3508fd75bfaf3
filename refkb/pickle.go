package refkb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The pickle values the reader builds. Python objects are never created:
// a class reference stays a pkGlobal and a call stays a pkReduce, which is
// all a tensor's pickle needs and keeps untrusted input inert.
type (
	pkGlobal struct{ module, name string }
	pkReduce struct {
		fn   any
		args pkTuple
	}
	pkPersID struct{ id any }
	pkTuple  []any
	pkList   struct{ items []any }    // pointer-shared: APPEND mutates in place
	pkDict   struct{ pairs [][2]any } // keys may be unhashable in Go
	pkBytes  []byte
	pkNone   struct{}
)

func pkDescribe(v any) string {
	switch x := v.(type) {
	case pkGlobal:
		return "global " + x.module + "." + x.name
	case pkReduce:
		return "a call of " + pkDescribe(x.fn)
	case pkPersID:
		return "a persistent id"
	case pkTuple:
		return fmt.Sprintf("a %d-tuple", len(x))
	case *pkList:
		return "a list"
	case *pkDict:
		return "a dict"
	case string:
		return fmt.Sprintf("%q", x)
	case int64, float64, bool:
		return fmt.Sprint(x)
	case pkNone:
		return "None"
	case pkBytes:
		return "bytes"
	}
	return fmt.Sprintf("%T", v)
}

// unpickle interprets the subset of pickle protocols 2–5 that torch.save
// emits for tensors (and the common container opcodes around them).
func unpickle(b []byte) (any, error) {
	m := &pickleMachine{b: b, memo: map[int64]any{}}
	for m.pos < len(b) {
		m.op, m.at = b[m.pos], m.pos
		m.pos++
		if m.op == '.' { // STOP
			return m.pop()
		}
		run := pickleOps[m.op]
		if run == nil {
			return nil, m.fail("not supported by this minimal reader")
		}
		if err := run(m); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("pickle ends without STOP")
}

// pickleOps maps each opcode the reader understands to its step; STOP is
// unpickle's own.
var pickleOps = map[byte]func(*pickleMachine) error{
	0x80: (*pickleMachine).proto,
	0x95: (*pickleMachine).frame,
	'(':  (*pickleMachine).mark,
	'c':  (*pickleMachine).global,
	0x93: (*pickleMachine).stackGlobal,
	'q':  (*pickleMachine).put,    // BINPUT
	'r':  (*pickleMachine).put,    // LONG_BINPUT
	0x94: (*pickleMachine).put,    // MEMOIZE
	'h':  (*pickleMachine).get,    // BINGET
	'j':  (*pickleMachine).get,    // LONG_BINGET
	'X':  (*pickleMachine).str,    // BINUNICODE
	0x8c: (*pickleMachine).str,    // SHORT_BINUNICODE
	0x8d: (*pickleMachine).str,    // BINUNICODE8
	'T':  (*pickleMachine).str,    // BINSTRING
	'U':  (*pickleMachine).str,    // SHORT_BINSTRING
	'B':  (*pickleMachine).str,    // BINBYTES
	'C':  (*pickleMachine).str,    // SHORT_BINBYTES
	0x8e: (*pickleMachine).str,    // BINBYTES8
	'K':  (*pickleMachine).binInt, // BININT1
	'M':  (*pickleMachine).binInt, // BININT2
	'J':  (*pickleMachine).binInt, // BININT
	0x8a: (*pickleMachine).long,   // LONG1
	0x8b: (*pickleMachine).long,   // LONG4
	'G':  (*pickleMachine).binFloat,
	'N':  func(m *pickleMachine) error { return m.push(pkNone{}) },
	0x88: func(m *pickleMachine) error { return m.push(true) },  // NEWTRUE
	0x89: func(m *pickleMachine) error { return m.push(false) }, // NEWFALSE
	')':  func(m *pickleMachine) error { return m.push(pkTuple{}) },
	't':  (*pickleMachine).tuple,
	0x85: (*pickleMachine).tupleN, // TUPLE1
	0x86: (*pickleMachine).tupleN, // TUPLE2
	0x87: (*pickleMachine).tupleN, // TUPLE3
	']':  func(m *pickleMachine) error { return m.push(&pkList{}) },
	'l':  (*pickleMachine).list,
	'a':  (*pickleMachine).appendItems, // APPEND
	'e':  (*pickleMachine).appendItems, // APPENDS
	'}':  func(m *pickleMachine) error { return m.push(&pkDict{}) },
	'd':  (*pickleMachine).setItems, // DICT
	's':  (*pickleMachine).setItems, // SETITEM
	'u':  (*pickleMachine).setItems, // SETITEMS
	'Q':  (*pickleMachine).persID,   // BINPERSID
	'R':  (*pickleMachine).reduce,   // REDUCE
	0x81: (*pickleMachine).reduce,   // NEWOBJ
	'b':  (*pickleMachine).build,
	'0':  (*pickleMachine).popTop, // POP
}

// pickleMachine is the state of a running pickle: its bytes, the stack
// with its marks, and the memo.
type pickleMachine struct {
	b     []byte
	pos   int // next byte to read
	op    byte
	at    int // offset of op
	stack []any
	marks []int
	memo  map[int64]any
}

func (m *pickleMachine) fail(format string, a ...any) error {
	return fmt.Errorf("pickle opcode 0x%02x at offset %d: %s", m.op, m.at, fmt.Sprintf(format, a...))
}

func (m *pickleMachine) truncated() error { return m.fail("truncated argument") }

// arg consumes the next n bytes of the op's argument.
func (m *pickleMachine) arg(n int) ([]byte, error) {
	if n < 0 || n > len(m.b)-m.pos {
		return nil, m.truncated()
	}
	s := m.b[m.pos : m.pos+n]
	m.pos += n
	return s, nil
}

// uintArg consumes a little-endian unsigned argument of width 1, 2, 4 or 8.
func (m *pickleMachine) uintArg(width int) (uint64, error) {
	s, err := m.arg(width)
	if err != nil {
		return 0, err
	}
	switch width {
	case 1:
		return uint64(s[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(s)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(s)), nil
	}
	return binary.LittleEndian.Uint64(s), nil
}

// lenArg consumes a length of width bytes, which must not exceed the
// whole pickle.
func (m *pickleMachine) lenArg(width int) (int, error) {
	n, err := m.uintArg(width)
	if err != nil {
		return 0, err
	}
	if n > uint64(len(m.b)) {
		return 0, m.truncated()
	}
	return int(n), nil
}

// line consumes a newline-terminated argument.
func (m *pickleMachine) line() (string, bool) {
	i := bytes.IndexByte(m.b[m.pos:], '\n')
	if i < 0 {
		return "", false
	}
	s := string(m.b[m.pos : m.pos+i])
	m.pos += i + 1
	return s, true
}

func (m *pickleMachine) push(v any) error {
	m.stack = append(m.stack, v)
	return nil
}

// top is the value on the stack above the innermost mark.
func (m *pickleMachine) top() (any, error) {
	if len(m.stack) == 0 || (len(m.marks) > 0 && len(m.stack) == m.marks[len(m.marks)-1]) {
		return nil, m.fail("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

func (m *pickleMachine) pop() (any, error) {
	v, err := m.top()
	if err == nil {
		m.stack = m.stack[:len(m.stack)-1]
	}
	return v, err
}

// popMark pops everything above the innermost mark, and the mark.
func (m *pickleMachine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.fail("no mark")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

// PROTO
func (m *pickleMachine) proto() error {
	p, err := m.arg(1)
	if err != nil {
		return err
	}
	if p[0] > 5 {
		return m.fail("protocol %d is newer than 5", p[0])
	}
	return nil
}

// FRAME: framing only, the opcodes follow inline.
func (m *pickleMachine) frame() error {
	_, err := m.arg(8)
	return err
}

// MARK
func (m *pickleMachine) mark() error {
	m.marks = append(m.marks, len(m.stack))
	return nil
}

// GLOBAL: module and name as two lines.
func (m *pickleMachine) global() error {
	mod, ok1 := m.line()
	name, ok2 := m.line()
	if !ok1 || !ok2 {
		return m.truncated()
	}
	return m.push(pkGlobal{mod, name})
}

// STACK_GLOBAL: module and name from the stack.
func (m *pickleMachine) stackGlobal() error {
	name, err1 := m.pop()
	mod, err2 := m.pop()
	ns, ok1 := name.(string)
	ms, ok2 := mod.(string)
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		return m.fail("want module and name strings")
	}
	return m.push(pkGlobal{ms, ns})
}

// BINPUT, LONG_BINPUT, MEMOIZE: remember the top of the stack.
func (m *pickleMachine) put() error {
	v, err := m.top()
	if err != nil {
		return err
	}
	var k uint64
	switch m.op {
	case 'q':
		k, err = m.uintArg(1)
	case 'r':
		k, err = m.uintArg(4)
	default:
		k = uint64(len(m.memo))
	}
	if err != nil {
		return err
	}
	m.memo[int64(k)] = v
	return nil
}

// BINGET, LONG_BINGET: push a remembered value.
func (m *pickleMachine) get() error {
	width := 4
	if m.op == 'h' {
		width = 1
	}
	k, err := m.uintArg(width)
	if err != nil {
		return err
	}
	v, ok := m.memo[int64(k)]
	if !ok {
		return m.fail("memo %d is unset", k)
	}
	return m.push(v)
}

// str pushes a str or bytes value of any length width.
func (m *pickleMachine) str() error {
	width := 4
	switch m.op {
	case 0x8c, 'U', 'C':
		width = 1
	case 0x8d, 0x8e:
		width = 8
	}
	n, err := m.lenArg(width)
	if err != nil {
		return err
	}
	s, err := m.arg(n)
	if err != nil {
		return err
	}
	if m.op == 'B' || m.op == 'C' || m.op == 0x8e {
		return m.push(pkBytes(bytes.Clone(s)))
	}
	return m.push(string(s))
}

// BININT1, BININT2 (unsigned) and BININT (signed 32-bit).
func (m *pickleMachine) binInt() error {
	width := 4
	switch m.op {
	case 'K':
		width = 1
	case 'M':
		width = 2
	}
	u, err := m.uintArg(width)
	if err != nil {
		return err
	}
	if m.op == 'J' {
		return m.push(int64(int32(uint32(u))))
	}
	return m.push(int64(u))
}

// LONG1, LONG4: little-endian two's complement of a given length.
func (m *pickleMachine) long() error {
	width := 1
	if m.op == 0x8b {
		width = 4
	}
	n, err := m.lenArg(width)
	if err != nil {
		return err
	}
	s, err := m.arg(n)
	if err != nil {
		return err
	}
	if n > 8 {
		return m.fail("%d-byte integer does not fit in int64", n)
	}
	var u uint64
	for i := n - 1; i >= 0; i-- {
		u = u<<8 | uint64(s[i])
	}
	if n > 0 && n < 8 && s[n-1]&0x80 != 0 {
		u |= ^uint64(0) << (8 * n) // sign-extend
	}
	return m.push(int64(u))
}

// BINFLOAT, big-endian.
func (m *pickleMachine) binFloat() error {
	s, err := m.arg(8)
	if err != nil {
		return err
	}
	return m.push(math.Float64frombits(binary.BigEndian.Uint64(s)))
}

// TUPLE: the items above the mark.
func (m *pickleMachine) tuple() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	return m.push(pkTuple(items))
}

// TUPLE1..3: the top one to three items.
func (m *pickleMachine) tupleN() error {
	n := int(m.op - 0x84)
	items := make(pkTuple, n)
	for i := n - 1; i >= 0; i-- {
		v, err := m.pop()
		if err != nil {
			return err
		}
		items[i] = v
	}
	return m.push(items)
}

// LIST: the items above the mark.
func (m *pickleMachine) list() error {
	items, err := m.popMark()
	if err != nil {
		return err
	}
	return m.push(&pkList{items: items})
}

// APPEND, APPENDS: one item, or those above the mark, onto the list below.
func (m *pickleMachine) appendItems() error {
	var items []any
	if m.op == 'a' {
		v, err := m.pop()
		if err != nil {
			return err
		}
		items = []any{v}
	} else {
		var err error
		if items, err = m.popMark(); err != nil {
			return err
		}
	}
	l, err := m.top()
	lst, isList := l.(*pkList)
	if err != nil || !isList {
		return m.fail("target is not a list")
	}
	lst.items = append(lst.items, items...)
	return nil
}

// DICT makes a dict of the keys and values above the mark; SETITEM and
// SETITEMS add one pair, or those above the mark, to the dict below.
func (m *pickleMachine) setItems() error {
	var items []any
	if m.op == 's' {
		v, err1 := m.pop()
		k, err2 := m.pop()
		if err1 != nil || err2 != nil {
			return m.fail("stack underflow")
		}
		items = []any{k, v}
	} else {
		var err error
		if items, err = m.popMark(); err != nil {
			return err
		}
	}
	if len(items)%2 != 0 {
		return m.fail("odd number of keys and values")
	}
	var d *pkDict
	if m.op == 'd' {
		d = &pkDict{}
		m.stack = append(m.stack, d)
	} else {
		v, err := m.top()
		if d, _ = v.(*pkDict); err != nil || d == nil {
			return m.fail("target is not a dict")
		}
	}
	for i := 0; i < len(items); i += 2 {
		d.pairs = append(d.pairs, [2]any{items[i], items[i+1]})
	}
	return nil
}

// BINPERSID
func (m *pickleMachine) persID() error {
	v, err := m.pop()
	if err != nil {
		return err
	}
	return m.push(pkPersID{v})
}

// REDUCE, NEWOBJ: record the call, never make it.
func (m *pickleMachine) reduce() error {
	args, err1 := m.pop()
	fn, err2 := m.pop()
	if err1 != nil || err2 != nil {
		return m.fail("stack underflow")
	}
	tup, ok := args.(pkTuple)
	if !ok {
		return m.fail("arguments are %s, not a tuple", pkDescribe(args))
	}
	return m.push(pkReduce{fn, tup})
}

// BUILD: the state of an object; tensors carry none we need.
func (m *pickleMachine) build() error {
	if _, err := m.pop(); err != nil {
		return err
	}
	_, err := m.top()
	return err
}

// POP
func (m *pickleMachine) popTop() error {
	_, err := m.pop()
	return err
}
