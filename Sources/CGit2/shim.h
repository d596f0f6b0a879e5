#include <git2.h>
/* git_repository_new and git_repository_set_odb/_config: a repository made of an object database
 * alone, for attribute lookups that must see nothing but one commit. */
#include <git2/sys/repository.h>
/* git_mempack_new: an in-memory object store for the directory view of .gitattributes. */
#include <git2/sys/odb_backend.h>
#include <git2/sys/mempack.h>

/* git_libgit2_opts is variadic, which Swift cannot call: one non-variadic wrapper per option. */
static inline int glassbox_git_set_strict_hash_verification(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, enabled);
}
static inline int glassbox_git_set_mwindow_size(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, bytes);
}
static inline int glassbox_git_set_mwindow_mapped_limit(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, bytes);
}
static inline int glassbox_git_set_caching(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_CACHING, enabled);
}
/* Where libgit2 looks for global, XDG, system and ProgramData config and attribute files;
 * "" means nowhere, so nothing outside the repository can change what is read. */
static inline int glassbox_git_set_search_path(git_config_level_t level, const char *path) {
    return git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, level, path);
}
