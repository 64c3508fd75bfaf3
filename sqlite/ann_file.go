package sqlite

// Index files. Per (model, modality) the index lives in two files of the
// store's ann folder: the graph (hnsw's format, recording the change
// sequence it reflects) and a side file naming the item of every node
// ("" for a deleted one), which records the graph file's checksum: a crash
// between the two atomic renames leaves a pair that does not match, and the
// index is rebuilt.
//
//	side file: magic "mmragitm", version (u32), graph CRC (u32), change
//	sequence (i64), nodes (u32), per node a uvarint length and the item
//	ID, then CRC-32C of everything before it.

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mmrag/hnsw"
	"mmrag/internal/atomicfile"
)

// ANNDir is the folder of the index files inside a store directory.
const ANNDir = "ann"

const (
	itemsMagic   = "mmragitm"
	itemsVersion = 1
	itemsHeader  = 28
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errStaleIndex reports an index file pair that cannot be trusted or reused.
var errStaleIndex = errors.New("index files do not match")

// annPaths returns the graph and side files of key in dir: the model ID
// with every character outside [A-Za-z0-9._-] replaced, and a hash of the
// exact ID so that two IDs never share a file.
func annPaths(dir string, key vecKey) (graph, items string) {
	safe := strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return r
		}
		return '_'
	}, key.model)
	sum := sha256.Sum256([]byte(key.model))
	base := filepath.Join(dir, ANNDir, fmt.Sprintf("%.64s-%s-%s", safe, key.modality, hex.EncodeToString(sum[:4])))
	return base + ".hnsw", base + ".items"
}

// graphCRC reads the checksum a saved graph file carries in its header.
func graphCRC(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 64); err != nil {
		return 0, fmt.Errorf("%w: %v", hnsw.ErrCorrupt, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// saveIndexFiles writes the graph, then the side file naming its nodes.
func saveIndexFiles(graph, items string, x *hnsw.Index, nodes []string, seq int64) error {
	if err := os.MkdirAll(filepath.Dir(graph), 0o755); err != nil {
		return err
	}
	if err := x.Save(graph, seq); err != nil {
		return err
	}
	crc, err := graphCRC(graph)
	if err != nil {
		return err
	}
	return writeItems(items, crc, seq, nodes)
}

func writeItems(path string, crc uint32, seq int64, nodes []string) error {
	return atomicfile.Write(path, func(f *os.File) error {
		sum := crc32.New(crcTable)
		bw := bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
		hdr := make([]byte, itemsHeader)
		copy(hdr, itemsMagic)
		le := binary.LittleEndian
		le.PutUint32(hdr[8:], itemsVersion)
		le.PutUint32(hdr[12:], crc)
		le.PutUint64(hdr[16:], uint64(seq))
		le.PutUint32(hdr[24:], uint32(len(nodes)))
		bw.Write(hdr)
		var lb [binary.MaxVarintLen64]byte
		for _, id := range nodes {
			bw.Write(lb[:binary.PutUvarint(lb[:], uint64(len(id)))])
			bw.WriteString(id)
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		var tail [4]byte
		le.PutUint32(tail[:], sum.Sum32())
		_, err := f.Write(tail[:])
		return err
	})
}

// loadIndexFiles reads a pair saved by saveIndexFiles and returns the
// graph, the item of each node and the change sequence it reflects. A pair
// that is torn, damaged or mismatched is an error wrapping hnsw.ErrCorrupt
// or errStaleIndex.
func loadIndexFiles(graph, items string, vec hnsw.Vectors, workers int) (*hnsw.Index, []string, int64, error) {
	x, seq, err := hnsw.Load(graph, vec, workers)
	if err != nil {
		return nil, nil, 0, err
	}
	crc, err := graphCRC(graph)
	if err != nil {
		return nil, nil, 0, err
	}
	nodes, iseq, icrc, err := readItems(items)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read %s: %w", filepath.Base(items), err)
	}
	if icrc != crc || iseq != seq || len(nodes) != x.Len() {
		return nil, nil, 0, fmt.Errorf("%w: %s names another graph", errStaleIndex, filepath.Base(items))
	}
	return x, nodes, seq, nil
}

func readItems(path string) (nodes []string, seq int64, crc uint32, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	le := binary.LittleEndian
	if len(b) < itemsHeader+4 || string(b[:8]) != itemsMagic || le.Uint32(b[8:]) != itemsVersion {
		return nil, 0, 0, fmt.Errorf("%w: no side file header", hnsw.ErrCorrupt)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != le.Uint32(b[len(b)-4:]) {
		return nil, 0, 0, fmt.Errorf("%w: side file checksum mismatch", hnsw.ErrCorrupt)
	}
	crc, seq = le.Uint32(b[12:]), int64(le.Uint64(b[16:]))
	n := int(le.Uint32(b[24:]))
	rest := body[itemsHeader:]
	if n > len(rest) {
		return nil, 0, 0, fmt.Errorf("%w: %d nodes in %d bytes", hnsw.ErrCorrupt, n, len(rest))
	}
	nodes = make([]string, n)
	for i := range nodes {
		l, k := binary.Uvarint(rest)
		if k <= 0 || l > uint64(len(rest)-k) {
			return nil, 0, 0, fmt.Errorf("%w: side file entry %d", hnsw.ErrCorrupt, i)
		}
		nodes[i] = string(rest[k : k+int(l)])
		rest = rest[k+int(l):]
	}
	if len(rest) != 0 {
		return nil, 0, 0, fmt.Errorf("%w: %d bytes after the last entry", hnsw.ErrCorrupt, len(rest))
	}
	return nodes, seq, crc, nil
}
