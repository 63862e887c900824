/* The file capture's audit hook in C (see forebear/capture/files.py).
 *
 * A Python audit hook is a Python call for every audit event the process raises: imports,
 * compiles, opens, socket calls. That call is most of what capture costs a script that
 * opens many files, and all of what it costs when no capture is running. This hook
 * returns at once for the events capture ignores and records a plain read open itself,
 * (path, mode, flags, time_ns) handed to the recorder in one C call, as files._hook
 * would. Every other event of interest (an open for writing, one with odd arguments,
 * os.rename, os.chdir, any open while no fast recorder is set) goes to files._hook, which
 * stays the one place where their meaning is decided.
 *
 * Built at install when a C compiler is there (hatch_build.py); without it the pure-
 * Python hook is used and capture behaves the same, only slower.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <time.h>

static PyObject *slow = NULL;     /* files._hook: (event, args) -> None */
/* Where a read open's (path, mode, flags, time_ns) goes: a list to append the four to, or
 * a callable taking them as one tuple. NULL: no capture. */
static PyObject *recorder = NULL;
static int fast = 0;              /* whether a read open is recorded here, not by slow */
static long write_flags = 0;      /* files._WRITE_FLAGS */

static int
call_slow(const char *event, PyObject *args)
{
    PyObject *hook = slow;
    PyObject *name = PyUnicode_FromString(event);
    if (name == NULL) {
        return -1;
    }
    Py_INCREF(hook); /* set_recorder or install may run while it does */
    PyObject *result = PyObject_CallFunctionObjArgs(hook, name, args, NULL);
    Py_DECREF(hook);
    Py_DECREF(name);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
record_read(PyObject *args)
{
    struct timespec now;
    /* time.time_ns's clock: files._hook takes the same one */
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    PyObject *stamp = PyLong_FromLongLong((long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (stamp == NULL) {
        return -1;
    }
    if (PyList_CheckExact(recorder)) {
        /* The capture's own list: the four values appended here, with the GIL held
         * throughout, so another thread never sees part of a record. */
        PyObject *list = recorder;
        int failed = PyList_Append(list, PyTuple_GET_ITEM(args, 0)) < 0
                     || PyList_Append(list, PyTuple_GET_ITEM(args, 1)) < 0
                     || PyList_Append(list, PyTuple_GET_ITEM(args, 2)) < 0
                     || PyList_Append(list, stamp) < 0;
        Py_DECREF(stamp);
        return failed ? -1 : 0;
    }
    PyObject *item = PyTuple_New(4);
    if (item == NULL) {
        Py_DECREF(stamp);
        return -1;
    }
    for (Py_ssize_t i = 0; i < 3; i++) {
        PyObject *value = PyTuple_GET_ITEM(args, i);
        Py_INCREF(value);
        PyTuple_SET_ITEM(item, i, value);
    }
    PyTuple_SET_ITEM(item, 3, stamp);
    PyObject *record = recorder;
    Py_INCREF(record);
    PyObject *result = PyObject_CallOneArg(record, item);
    Py_DECREF(record);
    Py_DECREF(item);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

static int
hook(const char *event, PyObject *args, void *unused)
{
    (void)unused;
    /* "open", "os.rename", "os.chdir": everything else leaves on the first letter or so */
    if (recorder == NULL || event[0] != 'o') {
        return 0; /* no capture running: files._hook would ignore it too */
    }
    if (strcmp(event, "open") == 0) {
        if (fast && args != NULL && PyTuple_CheckExact(args)
            && PyTuple_GET_SIZE(args) == 3) {
            PyObject *flags = PyTuple_GET_ITEM(args, 2);
            if (PyLong_CheckExact(flags)) {
                long value = PyLong_AsLong(flags);
                if (value == -1 && PyErr_Occurred()) {
                    PyErr_Clear(); /* not os.open's flags: files._hook decides */
                }
                else if ((value & write_flags) == 0) {
                    return record_read(args);
                }
            }
        }
        return call_slow(event, args);
    }
    if (strcmp(event, "os.rename") == 0 || strcmp(event, "os.chdir") == 0) {
        return call_slow(event, args);
    }
    return 0;
}

static PyObject *
install(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyCallable_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "install(hook, write_flags)");
        return NULL;
    }
    long flags = PyLong_AsLong(args[1]);
    if (flags == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (slow == NULL) {
        /* Hooks cannot be removed (PEP 578): install once, for the process's lifetime. */
        if (PySys_AddAuditHook(hook, NULL) < 0) {
            return NULL;
        }
    }
    PyObject *old = slow;
    Py_INCREF(args[0]);
    slow = args[0];
    write_flags = flags;
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *
set_recorder(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2
        || (args[0] != Py_None && !PyList_CheckExact(args[0]) && !PyCallable_Check(args[0]))) {
        PyErr_SetString(PyExc_TypeError,
                        "set_recorder(record, fast): record is a list, a callable or None");
        return NULL;
    }
    int is_fast = PyObject_IsTrue(args[1]);
    if (is_fast < 0) {
        return NULL;
    }
    if (slow == NULL && args[0] != Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "install() the hook first");
        return NULL;
    }
    PyObject *old = recorder;
    if (args[0] == Py_None) {
        recorder = NULL;
    }
    else {
        Py_INCREF(args[0]);
        recorder = args[0];
    }
    fast = is_fast;
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", (PyCFunction)(void (*)(void))install, METH_FASTCALL,
     "install(hook, write_flags): the audit hook, once; hook(event, args) gets what it "
     "does not record itself."},
    {"set_recorder", (PyCFunction)(void (*)(void))set_recorder, METH_FASTCALL,
     "set_recorder(record, fast): while record is not None (a capture runs), the hook's "
     "events go to hook(event, args), except read opens when fast: "
     "record((path, mode, flags, time_ns)), or the four appended to a list. "
     "None: every event is ignored."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_audit", "The file capture's audit hook, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__audit(void)
{
    return PyModule_Create(&module);
}
