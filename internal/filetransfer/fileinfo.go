package filetransfer

import (
	"math"
	"math/big"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/value"
)

// FileInfo is what the client announces after the proposal (TransferClient's
// fileInfo tuple).
type FileInfo struct {
	// Direction is the proposal's action name.
	Direction Direction
	// FileID is any DIRAC value: a name, a path, a list (BundleDelivery's
	// ["CAs", version], a SandboxStore's [name, {assignTo}]). Bulk ids carry
	// their ".tar.bz2"/".tar" suffix (BulkID).
	FileID any
	// Token is DIRAC's token ("" when none).
	Token string
	// Size is the declared size of uploads (FromClient, BulkFromClient); -1
	// when unknown, as DIRAC's bulkSize default. Ignored for downloads.
	Size int64
}

// Value returns the file info list as TransferClient sends it:
// [fileId, token, size] for uploads, [fileId, token] otherwise.
func (fi FileInfo) Value() []any {
	if fi.Direction.Sized() {
		return []any{fi.FileID, fi.Token, fi.Size}
	}
	return []any{fi.FileID, fi.Token}
}

// ParseFileInfo reads the client's file info frame, S_OK([fileId, token,
// size?]), for direction d. Like DIRAC's RequestHandler it needs the
// elements the direction uses; a token that is not a string is refused, a
// size that is not an integer counts as unknown (-1).
func ParseFileInfo(d Direction, v any) (FileInfo, error) {
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return FileInfo{}, err
	}
	items, ok := value.Items(val)
	need := 2
	if d.Sized() {
		need = 3
	}
	if !ok || len(items) < need {
		return FileInfo{}, protocolError("file info for %s is not a list of %d items", d, need)
	}
	fi := FileInfo{Direction: d, FileID: items[0], Size: -1}
	switch t := items[1].(type) {
	case string:
		fi.Token = t
	case []byte:
		fi.Token = string(t)
	case nil:
	default:
		return FileInfo{}, protocolError("file info token is a %T", items[1])
	}
	if d.Sized() {
		fi.Size = sizeOf(items[2])
	}
	return fi, nil
}

// sizeOf reads a declared size; anything but a non-negative integer is
// unknown (-1).
func sizeOf(v any) int64 {
	switch n := v.(type) {
	case int64:
		if n >= 0 {
			return n
		}
	case int:
		if n >= 0 {
			return int64(n)
		}
	case float64: // JSON from other encoders
		if n >= 0 && n <= math.MaxInt64 && n == math.Trunc(n) {
			return int64(n)
		}
	case *big.Int:
		if n.Sign() >= 0 && n.IsInt64() {
			return n.Int64()
		}
	}
	return -1
}

// dataOf returns the bytes of a chunk: []byte (JSON's b64 object) or a
// string (DEncode's s, Python 2 era text).
func dataOf(v any) ([]byte, bool) {
	switch b := v.(type) {
	case []byte:
		return b, true
	case string:
		return []byte(b), true
	}
	return nil, false
}

// isAbort reports whether a decoded frame carries the abort flag.
func isAbort(v any) bool {
	d, ok := v.(*value.Dict)
	if !ok {
		return false
	}
	f, ok := d.Lookup(AbortFlag)
	return ok && value.Truthy(f)
}

// okFrame is S_OK(v); abortFrame adds the abort flag.
func okFrame(v any) *value.Dict { return diracrpc.OK(v) }

func abortFrame(v any) *value.Dict {
	d := diracrpc.OK(v)
	d.Set(AbortFlag, true)
	return d
}

// errFrame is S_ERROR(msg) without CallStack.
func errFrame(msg string) *value.Dict {
	return (&diracrpc.Error{Message: msg}).Dict(false)
}
