// Vit.Compiler kernel prelude for CUDA C (NVRTC). Not used by the OpenCL backend: it documents,
// and is tested to be complete against, the names vit.cl uses, so that a CUDA backend (NVRTC to
// compile, the driver API's cuLaunchKernel to launch) can reuse the same kernel source.
//
// Differences a CUDA backend handles on the host side:
// - Tensor arguments are (pointer, element offset) pairs; pass the device pointer and the offset
//   as OpenCL does (or the pointer already advanced and offset 0).
// - The -D constants are passed to nvrtcCompileProgram as "-D NAME=VALUE" options, unchanged.
// - Launch geometry: OpenCL's global size is CUDA's grid × block; vit.cl only assumes that the
//   global size is a multiple of the local size and bounds-checks every index itself.

#define KERNEL extern "C" __global__
#define GLOBAL
#define LOCAL __shared__
#define LOCAL_PTR
#define DEVICE __device__ static inline
#define BARRIER() __syncthreads()

typedef long long vit_long;

__device__ static inline vit_long vit_global_id(int d)
{
    return d == 0 ? (vit_long)blockIdx.x * blockDim.x + threadIdx.x
         : d == 1 ? (vit_long)blockIdx.y * blockDim.y + threadIdx.y
                  : (vit_long)blockIdx.z * blockDim.z + threadIdx.z;
}
__device__ static inline int vit_local_id(int d) { return d == 0 ? threadIdx.x : d == 1 ? threadIdx.y : threadIdx.z; }
__device__ static inline vit_long vit_group_id(int d) { return d == 0 ? blockIdx.x : d == 1 ? blockIdx.y : blockIdx.z; }
__device__ static inline int vit_local_size(int d) { return d == 0 ? blockDim.x : d == 1 ? blockDim.y : blockDim.z; }

#define GLOBAL_ID(d) vit_global_id(d)
#define LOCAL_ID(d) vit_local_id(d)
#define GROUP_ID(d) vit_group_id(d)
#define LOCAL_SIZE(d) vit_local_size(d)

// expf, logf, sqrtf, erff, tanhf and fmaxf are CUDA's own float math functions.
