DROP INDEX tracks_present_paging;
