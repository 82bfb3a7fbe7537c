//! Diesel table definitions, written to match `migrations/` (the migrations are the source of truth;
//! the FTS5 tables and triggers live only there and are queried with SQL).

diesel::table! {
    music_folders (id) {
        id -> BigInt,
        path -> Text,
        name -> Text,
        enabled -> Bool,
        last_scan_at -> Nullable<BigInt>,
        added_in_app -> Bool,
    }
}

diesel::table! {
    directories (id) {
        id -> BigInt,
        folder_id -> BigInt,
        parent_id -> Nullable<BigInt>,
        path -> Text,
        name -> Text,
        mtime -> BigInt,
        cover_path -> Nullable<Text>,
        artist_image_path -> Nullable<Text>,
        missing_since -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    artists (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        sort_name -> Nullable<Text>,
        search_name -> Text,
        mbid -> Nullable<Text>,
        image_path -> Nullable<Text>,
        album_count -> Integer,
        track_count -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    albums (id) {
        id -> BigInt,
        key -> Text,
        name -> Text,
        sort_name -> Nullable<Text>,
        search_name -> Text,
        artist_display -> Text,
        artist_sort -> Nullable<Text>,
        year -> Nullable<Integer>,
        date -> Nullable<Text>,
        original_date -> Nullable<Text>,
        release_date -> Nullable<Text>,
        compilation -> Bool,
        release_types -> Nullable<Text>,
        label -> Nullable<Text>,
        explicit -> Nullable<Bool>,
        mbz_album_id -> Nullable<Text>,
        mbz_release_group_id -> Nullable<Text>,
        mbz_album_artist_id -> Nullable<Text>,
        cover_path -> Nullable<Text>,
        cover_track_id -> Nullable<BigInt>,
        folder_id -> Nullable<BigInt>,
        track_count -> Integer,
        disc_count -> Integer,
        duration_ms -> BigInt,
        size -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    genres (id) {
        id -> BigInt,
        name -> Text,
        track_count -> Integer,
        album_count -> Integer,
    }
}

diesel::table! {
    tracks (id) {
        id -> BigInt,
        folder_id -> BigInt,
        directory_id -> BigInt,
        album_id -> BigInt,
        path -> Text,
        size -> BigInt,
        mtime -> BigInt,
        suffix -> Text,
        content_type -> Text,
        format -> Text,
        duration_ms -> BigInt,
        bit_rate -> Nullable<Integer>,
        sample_rate -> Nullable<Integer>,
        bit_depth -> Nullable<Integer>,
        channels -> Nullable<Integer>,
        title -> Text,
        sort_title -> Nullable<Text>,
        artist_display -> Text,
        artist_sort -> Nullable<Text>,
        album_name -> Text,
        album_sort -> Nullable<Text>,
        album_artist_display -> Text,
        album_artist_sort -> Nullable<Text>,
        genre_display -> Nullable<Text>,
        moods -> Nullable<Text>,
        track_number -> Nullable<Integer>,
        track_total -> Nullable<Integer>,
        disc_number -> Nullable<Integer>,
        disc_total -> Nullable<Integer>,
        disc_subtitle -> Nullable<Text>,
        year -> Nullable<Integer>,
        date -> Nullable<Text>,
        original_date -> Nullable<Text>,
        release_date -> Nullable<Text>,
        bpm -> Nullable<Integer>,
        comment -> Nullable<Text>,
        isrc -> Nullable<Text>,
        label -> Nullable<Text>,
        release_types -> Nullable<Text>,
        compilation -> Bool,
        explicit -> Nullable<Bool>,
        rg_track_gain -> Nullable<Double>,
        rg_track_peak -> Nullable<Double>,
        rg_album_gain -> Nullable<Double>,
        rg_album_peak -> Nullable<Double>,
        mbz_recording_id -> Nullable<Text>,
        mbz_release_track_id -> Nullable<Text>,
        mbz_album_id -> Nullable<Text>,
        mbz_artist_ids -> Nullable<Text>,
        mbz_album_artist_ids -> Nullable<Text>,
        mbz_release_group_id -> Nullable<Text>,
        lyrics -> Nullable<Text>,
        lrc_path -> Nullable<Text>,
        has_cover -> Bool,
        match_key -> Text,
        missing_since -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    track_artists (track_id, role, position) {
        track_id -> BigInt,
        artist_id -> BigInt,
        role -> Text,
        sub_role -> Nullable<Text>,
        position -> Integer,
    }
}

diesel::table! {
    album_artists (album_id, position) {
        album_id -> BigInt,
        artist_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    track_genres (track_id, position) {
        track_id -> BigInt,
        genre_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    album_genres (album_id, position) {
        album_id -> BigInt,
        genre_id -> BigInt,
        position -> Integer,
    }
}

diesel::table! {
    scan_errors (id) {
        id -> BigInt,
        path -> Text,
        kind -> Text,
        reason -> Text,
        size -> Nullable<BigInt>,
        mtime -> Nullable<BigInt>,
        first_seen -> BigInt,
        last_seen -> BigInt,
    }
}

diesel::table! {
    scan_state (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        password_enc -> Binary,
        is_admin -> Bool,
        email -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        roles -> Text,
        max_bit_rate -> Integer,
        folders -> Nullable<Text>,
        transcode_format -> Nullable<Text>,
    }
}

diesel::table! {
    annotations (user_id, item_kind, item_id) {
        user_id -> BigInt,
        item_kind -> Text,
        item_id -> BigInt,
        starred_at -> Nullable<BigInt>,
        rating -> Nullable<Integer>,
        play_count -> Integer,
        last_played_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    playlists (id) {
        id -> BigInt,
        owner_id -> BigInt,
        name -> Text,
        comment -> Nullable<Text>,
        public -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        source_path -> Nullable<Text>,
        folder_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    playlist_entries (playlist_id, position) {
        playlist_id -> BigInt,
        position -> Integer,
        track_id -> BigInt,
    }
}

diesel::table! {
    bookmarks (user_id, track_id) {
        user_id -> BigInt,
        track_id -> BigInt,
        position_ms -> BigInt,
        comment -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    play_queues (user_id) {
        user_id -> BigInt,
        current_index -> Nullable<BigInt>,
        position_ms -> BigInt,
        changed_by -> Nullable<Text>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    play_queue_entries (user_id, position) {
        user_id -> BigInt,
        position -> Integer,
        track_id -> BigInt,
    }
}

diesel::joinable!(tracks -> albums (album_id));
diesel::joinable!(tracks -> music_folders (folder_id));
diesel::joinable!(track_artists -> tracks (track_id));
diesel::joinable!(track_artists -> artists (artist_id));
diesel::joinable!(album_artists -> albums (album_id));
diesel::joinable!(album_artists -> artists (artist_id));
diesel::joinable!(track_genres -> tracks (track_id));
diesel::joinable!(track_genres -> genres (genre_id));
diesel::joinable!(album_genres -> albums (album_id));
diesel::joinable!(album_genres -> genres (genre_id));
diesel::joinable!(annotations -> users (user_id));
diesel::joinable!(playlists -> users (owner_id));
diesel::joinable!(playlist_entries -> playlists (playlist_id));

diesel::allow_tables_to_appear_in_same_query!(
    music_folders,
    directories,
    artists,
    albums,
    genres,
    tracks,
    track_artists,
    album_artists,
    track_genres,
    album_genres,
    scan_errors,
    scan_state,
    users,
    annotations,
    playlists,
    playlist_entries,
    bookmarks,
    play_queues,
    play_queue_entries,
);

diesel::table! {
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        key_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(api_keys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(api_keys, users);

diesel::table! {
    players (id) {
        id -> BigInt,
        user_id -> BigInt,
        client -> Text,
        user_agent -> Text,
        ip -> Text,
        first_seen -> BigInt,
        last_seen -> BigInt,
        transcode_format -> Nullable<Text>,
        max_bit_rate -> Integer,
    }
}

diesel::joinable!(players -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(players, users);

diesel::table! {
    radio_stations (id) {
        id -> BigInt,
        name -> Text,
        stream_url -> Text,
        homepage_url -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> BigInt,
        user_id -> BigInt,
        message -> Text,
        created_ms -> BigInt,
    }
}

diesel::joinable!(chat_messages -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(chat_messages, users);

diesel::table! {
    shares (id) {
        id -> BigInt,
        token -> Text,
        owner_id -> BigInt,
        description -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_visited_at -> Nullable<BigInt>,
        visit_count -> Integer,
    }
}

diesel::table! {
    share_entries (share_id, position) {
        share_id -> BigInt,
        position -> Integer,
        track_id -> BigInt,
    }
}

diesel::joinable!(shares -> users (owner_id));
diesel::joinable!(share_entries -> shares (share_id));
diesel::allow_tables_to_appear_in_same_query!(shares, share_entries, users);

diesel::table! {
    household_queues (name) {
        name -> Text,
        version -> BigInt,
        current_entry -> Nullable<Text>,
        position_ms -> BigInt,
        playing -> Bool,
        repeat -> Text,
        shuffle -> Bool,
        volume -> Integer,
        output -> Nullable<Text>,
        next_entry -> BigInt,
        updated_at -> BigInt,
        muted -> Bool,
    }
}

diesel::table! {
    household_queue_entries (queue, position) {
        queue -> Text,
        position -> Integer,
        entry_id -> Text,
        song -> Text,
        unshuffled_position -> Nullable<Integer>,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        last_used_at -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(sessions, users);

diesel::table! {
    track_sounds (track_id) {
        track_id -> BigInt,
        version -> Integer,
        size -> BigInt,
        mtime -> BigInt,
        features -> Nullable<Text>,
        error -> Nullable<Text>,
        analysed_at -> BigInt,
    }
}

diesel::joinable!(track_sounds -> tracks (track_id));
diesel::allow_tables_to_appear_in_same_query!(track_sounds, tracks);

diesel::table! {
    listens (id) {
        id -> BigInt,
        user_id -> BigInt,
        track_id -> BigInt,
        at -> BigInt,
        played_ms -> BigInt,
        skipped -> Bool,
        source -> Text,
    }
}

diesel::table! {
    podcast_channels (id) {
        id -> BigInt,
        url -> Text,
        title -> Nullable<Text>,
        description -> Nullable<Text>,
        image_url -> Nullable<Text>,
        status -> Text,
        error_message -> Nullable<Text>,
        refreshed_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    podcast_episodes (id) {
        id -> BigInt,
        channel_id -> BigInt,
        guid -> Text,
        url -> Text,
        title -> Text,
        description -> Nullable<Text>,
        published_at -> Nullable<BigInt>,
        duration_s -> Nullable<BigInt>,
        content_type -> Nullable<Text>,
        feed_size -> Nullable<BigInt>,
        status -> Text,
        error_message -> Nullable<Text>,
        file_name -> Nullable<Text>,
        size -> Nullable<BigInt>,
        suffix -> Nullable<Text>,
        bit_rate -> Nullable<Integer>,
        created_at -> BigInt,
    }
}

diesel::joinable!(podcast_episodes -> podcast_channels (channel_id));
diesel::allow_tables_to_appear_in_same_query!(podcast_episodes, podcast_channels);

diesel::table! {
    scrobble_links (user_id, service) {
        user_id -> BigInt,
        service -> Text,
        secret -> Binary,
        account -> Text,
        linked_at -> BigInt,
        needs_attention -> Nullable<Text>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<BigInt>,
        last_sent_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    scrobble_prefs (user_id) {
        user_id -> BigInt,
        enabled -> Bool,
    }
}

diesel::table! {
    scrobble_outbox (id) {
        id -> BigInt,
        user_id -> BigInt,
        service -> Text,
        track_id -> BigInt,
        listened_at -> BigInt,
        artist -> Text,
        track -> Text,
        album -> Text,
        album_artist -> Text,
        duration_ms -> BigInt,
        track_number -> Nullable<Integer>,
        recording_mbid -> Nullable<Text>,
        release_mbid -> Nullable<Text>,
        attempts -> Integer,
        next_try_at -> BigInt,
        refused -> Nullable<Text>,
        sent_at -> Nullable<BigInt>,
    }
}
