// Vit.Compiler kernel prelude for OpenCL C 1.2.
//
// vit.cl is written in a C subset that compiles both as OpenCL C and as CUDA C. Everything that
// differs between the two goes through the macros below; prelude.cuda.h defines the same names
// for NVRTC. Rules for vit.cl: no OpenCL built-ins or CUDA intrinsics directly (use these macros
// and the CUDA spellings of the math functions: expf, logf, sqrtf, erff, tanhf, fmaxf), no vector
// types, no atomics, no images, no double; local memory only as fixed-size arrays declared with
// LOCAL at kernel scope (LOCAL_PTR in a helper's parameter list); helpers declared DEVICE;
// tensors passed as (pointer, element offset) pairs; no return before a barrier, not even a
// uniform one (PoCL 3.1's default work-group compiler corrupted the host heap on such kernels).

#define KERNEL __kernel
#define GLOBAL __global
#define LOCAL __local
#define LOCAL_PTR __local
#define DEVICE static inline
#define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)

typedef long vit_long;

#define GLOBAL_ID(d) ((vit_long)get_global_id(d))
#define LOCAL_ID(d) ((int)get_local_id(d))
#define GROUP_ID(d) ((vit_long)get_group_id(d))
#define LOCAL_SIZE(d) ((int)get_local_size(d))

// OpenCL C overloads the math functions by argument type; CUDA C spells the float versions with f.
#define expf(x) exp(x)
#define logf(x) log(x)
#define sqrtf(x) sqrt(x)
#define erff(x) erf(x)
#define tanhf(x) tanh(x)
#define fmaxf(a, b) fmax(a, b)
