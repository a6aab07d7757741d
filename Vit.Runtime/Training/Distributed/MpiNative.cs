using System.Runtime.InteropServices;

namespace Vit.Training;

/// <summary>
/// The MPI calls data-parallel training makes, bound to Open MPI's <c>libmpi.so.40</c> (Debian's
/// <c>libopenmpi3</c>, Open MPI 4.x) with source-generated P/Invoke: every signature is blittable,
/// so NativeAOT needs nothing extra. The library is opened on the first call, which happens only
/// when <c>mpirun</c> started the process (<see cref="MpiCommunicator.Launched"/>); a plain
/// <c>vit train</c> never loads it.
/// </summary>
/// <remarks>
/// <para>Handles: in Open MPI, <c>MPI_Comm</c>, <c>MPI_Datatype</c>, <c>MPI_Op</c> and
/// <c>MPI_Request</c> are pointers, and the predefined ones (<c>MPI_COMM_WORLD</c>,
/// <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, …) are the addresses of exported objects such as
/// <c>ompi_mpi_comm_world</c>, not small integers as in MPICH; <see cref="Handles"/> looks them
/// up. <c>MPI_IN_PLACE</c> is <c>(void*)1</c> and <c>MPI_STATUS_IGNORE</c> is null.</para>
/// <para>Names keep their C spelling so they can be looked up in the Open MPI man pages.</para>
/// </remarks>
internal static unsafe partial class MpiNative
{
    /// <summary>Open MPI 4's soname (Debian/Ubuntu package <c>libopenmpi3</c>, pulled in by <c>openmpi-bin</c>).</summary>
    public const string Library = "libmpi.so.40";

    public const int MPI_SUCCESS = 0;
    public const int MPI_THREAD_SERIALIZED = 2;
    public const int MPI_MAX_ERROR_STRING = 256;
    public static readonly nint MPI_IN_PLACE = 1;

    [LibraryImport(Library)]
    public static partial int MPI_Initialized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Finalized(int* flag);

    [LibraryImport(Library)]
    public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);

    [LibraryImport(Library)]
    public static partial int MPI_Finalize();

    [LibraryImport(Library)]
    public static partial int MPI_Abort(nint comm, int errorcode);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_rank(nint comm, int* rank);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_size(nint comm, int* size);

    [LibraryImport(Library)]
    public static partial int MPI_Comm_set_errhandler(nint comm, nint errhandler);

    [LibraryImport(Library)]
    public static partial int MPI_Error_string(int errorcode, byte* text, int* length);

    [LibraryImport(Library)]
    public static partial int MPI_Allreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm);

    [LibraryImport(Library)]
    public static partial int MPI_Iallreduce(void* sendbuf, void* recvbuf, int count, nint datatype, nint op, nint comm, nint* request);

    [LibraryImport(Library)]
    public static partial int MPI_Testall(int count, nint* requests, int* flag, void* statuses);

    [LibraryImport(Library)]
    public static partial int MPI_Waitall(int count, nint* requests, void* statuses);

    [LibraryImport(Library)]
    public static partial int MPI_Allgather(void* sendbuf, int sendcount, nint sendtype, void* recvbuf, int recvcount, nint recvtype, nint comm);

    [LibraryImport(Library)]
    public static partial int MPI_Bcast(void* buffer, int count, nint datatype, int root, nint comm);

    [LibraryImport(Library)]
    public static partial int MPI_Barrier(nint comm);

    /// <summary>The predefined handles: addresses of objects <c>libmpi.so.40</c> exports.</summary>
    public sealed class Handles
    {
        private Handles(nint library)
        {
            nint Get(string symbol) => NativeLibrary.TryGetExport(library, symbol, out var address) ? address
                : throw new CommunicationException($"{Library} does not export '{symbol}': it is not Open MPI 4 (vit's MPI bindings are for Open MPI; see docs/distributed.md)");
            CommWorld = Get("ompi_mpi_comm_world");
            Float = Get("ompi_mpi_float");
            Double = Get("ompi_mpi_double");
            UInt64 = Get("ompi_mpi_uint64_t");
            Sum = Get("ompi_mpi_op_sum");
            ErrorsReturn = Get("ompi_mpi_errors_return");
        }

        public nint CommWorld { get; }

        public nint Float { get; }

        public nint Double { get; }

        public nint UInt64 { get; }

        public nint Sum { get; }

        public nint ErrorsReturn { get; }

        /// <summary>Opens the library (the same one the P/Invoke calls bind to) and looks the handles up.</summary>
        /// <exception cref="CommunicationException">The library cannot be loaded or is not Open MPI.</exception>
        public static Handles Load()
        {
            if (!NativeLibrary.TryLoad(Library, typeof(MpiNative).Assembly, DllImportSearchPath.SafeDirectories, out var library)
                && !NativeLibrary.TryLoad(Library, out library))
                throw new CommunicationException($"mpirun started this process, but {Library} (Open MPI 4) cannot be loaded: install Open MPI (apt-get install openmpi-bin), or run vit without mpirun");
            return new Handles(library);
        }
    }
}
