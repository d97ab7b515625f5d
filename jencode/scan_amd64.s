//go:build amd64 && !purego

#include "textflag.h"

// func scanPlainAVX2(p *byte, n int, hi byte) int
TEXT ·scanPlainAVX2(SB), NOSPLIT, $0-32
	MOVQ    p+0(FP), SI
	MOVQ    n+8(FP), CX
	MOVBQZX hi+16(FP), AX
	XORQ    DX, DX

	// Y1: 0x20 (the first plain byte), Y2: hi (the last), Y3: '"', Y4: '\\'.
	MOVQ         $0x20, BX
	MOVQ         BX, X1
	VPBROADCASTB X1, Y1
	MOVQ         AX, X2
	VPBROADCASTB X2, Y2
	MOVQ         $0x22, BX
	MOVQ         BX, X3
	VPBROADCASTB X3, Y3
	MOVQ         $0x5c, BX
	MOVQ         BX, X4
	VPBROADCASTB X4, Y4

loop:
	LEAQ 32(DX), R8
	CMPQ R8, CX
	JA   done
	VMOVDQU (SI)(DX*1), Y0

	// In range: max(b, 0x20) == b and min(b, hi) == b, unsigned.
	VPMAXUB  Y1, Y0, Y5
	VPCMPEQB Y0, Y5, Y5
	VPMINUB  Y2, Y0, Y6
	VPCMPEQB Y0, Y6, Y6
	VPAND    Y5, Y6, Y5

	// Quote or backslash.
	VPCMPEQB Y3, Y0, Y7
	VPCMPEQB Y4, Y0, Y8
	VPOR     Y7, Y8, Y7

	VPMOVMSKB Y5, AX
	VPMOVMSKB Y7, BX
	NOTL      AX
	ORL       BX, AX
	JNZ       done
	MOVQ      R8, DX
	JMP       loop

done:
	VZEROUPPER
	MOVQ DX, ret+24(FP)
	RET
