/* safetensors.h — validated, memory-mapped safetensors files (single or
 * sharded with model.safetensors.index.json). */
#ifndef HG_SAFETENSORS_H
#define HG_SAFETENSORS_H

#include "internal.h"

typedef enum hg_st_dtype {
    HG_ST_F32, HG_ST_BF16, HG_ST_F16, HG_ST_F64,
    HG_ST_I64, HG_ST_I32, HG_ST_I16, HG_ST_I8, HG_ST_U8, HG_ST_BOOL,
    HG_ST_U16, HG_ST_U32, HG_ST_U64, HG_ST_F8_E4M3, HG_ST_F8_E5M2, HG_ST_C64,
} hg_st_dtype;

#define HG_ST_MAX_DIMS 8

typedef struct hg_st_tensor {
    char *name;
    hg_st_dtype dtype;
    int ndim;
    int64_t shape[HG_ST_MAX_DIMS];
    int64_t numel;
    const void *data;        /* inside the file's mapping              */
    size_t nbytes;
    int file;                /* index into hg_st.files                 */
} hg_st_tensor;

typedef struct hg_st_file {
    char *path;
    void *map;               /* whole-file read-only mapping           */
    size_t size;
} hg_st_file;

typedef struct hg_st {
    hg_st_file *files;
    int n_files;
    hg_st_tensor *tensors;
    int n_tensors;
} hg_st;

const char *hg_st_dtype_name(hg_st_dtype d);
size_t hg_st_dtype_size(hg_st_dtype d);

/* Map and validate one .safetensors file, adding its tensors to st. */
hg_status hg_st_add_file(hg_st *st, const char *path, hg_err *err);
/* Open a checkpoint directory: model.safetensors.index.json (sharded) or
 * model.safetensors, else every *.safetensors file in it. */
hg_status hg_st_open_dir(hg_st *st, const char *dir, hg_err *err);
const hg_st_tensor *hg_st_find(const hg_st *st, const char *name);
void hg_st_close(hg_st *st);

#endif
