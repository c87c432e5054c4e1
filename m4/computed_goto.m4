# ROUTE_C_COMPUTED_GOTO
# ---------------------
# Does the C compiler support labels as values (goto *ptr)? Defines
# HAVE_COMPUTED_GOTO when it does; the VM falls back to a switch otherwise.
# After postgres/postgres:config/c-compiler.m4 PGAC_C_COMPUTED_GOTO.
AC_DEFUN([ROUTE_C_COMPUTED_GOTO],
[AC_CACHE_CHECK([for computed goto support], [route_cv_computed_goto],
[AC_COMPILE_IFELSE([AC_LANG_PROGRAM([],
[[void *labels[] = {&&my_label};
  goto *labels[0];
  my_label:
  return 1;
]])],
[route_cv_computed_goto=yes],
[route_cv_computed_goto=no])])
if test x"$route_cv_computed_goto" = xyes; then
  AC_DEFINE(HAVE_COMPUTED_GOTO, 1,
            [Define to 1 if your compiler handles computed gotos.])
fi])
